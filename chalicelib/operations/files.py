"""The region switch locally: one small file under DATA_DIR (``region-switch``) holding ``serving`` or
``failed``, so ``chalice local`` can be failed and restored too. No file: serving. Standard library only
(it loads on GET /health's cold path)."""

from __future__ import annotations

import os

from chalicelib.errors import RegionSwitchUnavailable
from chalicelib.vocabulary import REGION_SERVING

FILE_NAME = "region-switch"


class FileRegionSwitch:
    """The RegionSwitch port (chalicelib/tasks/region.py) on a file; written whole, by rename."""

    def __init__(self, path: str) -> None:
        self.path = path

    def read(self) -> str:
        try:
            with open(self.path, encoding="utf-8") as source:
                return source.read().strip()
        except FileNotFoundError:
            return REGION_SERVING
        except OSError as exc:
            raise RegionSwitchUnavailable("the region switch file cannot be read") from exc

    def write(self, state: str) -> None:
        partial = f"{self.path}.{os.getpid()}.partial"
        try:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            with open(partial, "w", encoding="utf-8") as sink:
                sink.write(state + "\n")
            os.replace(partial, self.path)
        except OSError as exc:
            raise RegionSwitchUnavailable("the region switch file cannot be written") from exc
