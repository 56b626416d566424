"""Just enough Markdown for the docs tests: table rows, links and heading anchors, outside code fences."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Every Markdown file a reader is sent to: the README, docs/ and the READMEs beside the code they describe.
DOCUMENTS = tuple(
    sorted(
        [
            ROOT / "README.md",
            *(ROOT / "docs").glob("*.md"),
            *(
                path
                for path in ROOT.glob("*/README.md")
                if not path.parent.name.startswith(".") and path.parent.name != "node_modules"
            ),
        ]
    )
)

_FENCE = re.compile(r"^\s*(```|~~~)")
_CELL_SEPARATOR = re.compile(r"(?<!\\)\|")
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) for every line outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def table_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of every table row, header and separator rows included; ``\\|`` stays in a cell."""
    for number, line in prose_lines(path):
        text = line.strip()
        if text.startswith("|") and text.endswith("|") and len(text) > 1:
            yield number, [cell.strip() for cell in _CELL_SEPARATOR.split(text[1:-1])]


def links(path: Path) -> Iterator[tuple[int, str]]:
    for number, line in prose_lines(path):
        for match in _LINK.finditer(line):
            yield number, match.group(1)


def anchors(path: Path) -> set[str]:
    """The fragment ids GitHub gives the file's headings (``## Project decisions`` -> ``project-decisions``)."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(path):
        match = _HEADING.match(line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(2).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found
