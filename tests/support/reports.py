"""Figures a test reports at the end of the run: the conftest of its folder prints them in the summary."""

from __future__ import annotations

REPORT: dict[str, str] = {}
