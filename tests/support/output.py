"""What one stretch of the app's stdout held, taken apart: JSON log lines, EMF documents, anything else."""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field
from typing import Any


@dataclass
class Output:
    """What one stretch of the app's stdout held: JSON log lines, EMF documents, anything else."""

    text: str
    stderr: str = ""
    logs: list[dict[str, Any]] = field(default_factory=list)
    emf: list[dict[str, Any]] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str, stderr: str = "") -> Output:
        out = cls(text, stderr)
        for line in text.splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                out.other.append(line)
                continue
            if not isinstance(value, dict) or not ("_aws" in value or "level" in value):
                out.other.append(line)
                continue
            # The access line is the invocation's EMF document too: it counts as both.
            if "_aws" in value:
                out.emf.append(value)
            if "level" in value:
                out.logs.append(value)
        return out

    def lines(self) -> list[str]:
        return [line for line in self.text.splitlines() if line.strip()]

    def access(self) -> list[dict[str, Any]]:
        return [line for line in self.logs if line["logger"] == "tasks.access"]

    def at(self, level: str) -> list[dict[str, Any]]:
        return [line for line in self.logs if line["level"] == level]
