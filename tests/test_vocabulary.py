"""Every word of chalicelib/vocabulary.py is written there once: no module of the app spells a status, an
event type, the client-token pattern, an id pattern or the unhandled marker itself."""

from __future__ import annotations

import ast
from pathlib import Path

from chalicelib import vocabulary
from chalicelib.tasks import ids

PROJECT = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    {*(PROJECT / "chalicelib").rglob("*.py"), *(PROJECT / "cloudformation").rglob("*.py"), PROJECT / "app.py"}
)
HOME = PROJECT / "chalicelib" / "vocabulary.py"

WORDS = {
    *vocabulary.STATUSES,
    *vocabulary.EVENT_TYPES,
    *vocabulary.REJECTION_REASONS,
    vocabulary.UNHANDLED_VALUE,
    vocabulary.INTERNAL_ERROR_DETAIL,
    vocabulary.CLIENT_TOKEN_RULE,
    vocabulary.PROMPT_RULE,
    vocabulary.ASSISTANT_STREAM_PATH,
    *vocabulary.REGION_STATES,
    vocabulary.SLACK_COMMAND_PATH,
}
# Other words that happen to be spelled like one of the vocabulary's: the assistant's `done` event, and
# the request state's `unhandled` flag.
HOMONYMS = {
    (PROJECT / "chalicelib" / "assistant" / "base.py", vocabulary.STATUS_DONE),
    (PROJECT / "chalicelib" / "protocol" / "context.py", vocabulary.UNHANDLED_VALUE),
}
# Fragments of a pattern: a copy of the pattern would contain one.
FRAGMENTS = ("A-Za-z0-9._:-", "0-9A-HJKMNP", "0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def _strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_no_module_spells_a_word_of_the_vocabulary_itself():
    found = [
        f"{path.relative_to(PROJECT)}:{line}: {value!r}"
        for path in SOURCES
        if path != HOME
        for line, value in _strings(path)
        if value in WORDS and (path, value) not in HOMONYMS
    ]
    assert found == []


def test_no_module_copies_a_pattern_of_the_vocabulary():
    homes = {HOME: FRAGMENTS[0], Path(ids.__file__): FRAGMENTS[2]}
    found = [
        f"{path.relative_to(PROJECT)}:{line}: {value!r}"
        for path in SOURCES
        for line, value in _strings(path)
        for fragment in FRAGMENTS
        if fragment in value and homes.get(path) != fragment
    ]
    assert found == []


def test_no_module_writes_the_prompt_limit_itself():
    # The limit is a number, so the string scan above cannot see a copy of it.
    found = [
        f"{path.relative_to(PROJECT)}:{node.lineno}"
        for path in SOURCES
        if path != HOME
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and type(node.value) is int and node.value == vocabulary.MAX_PROMPT_CHARS
    ]
    assert found == []


def test_the_scan_sees_a_literal_where_one_is_written(tmp_path):
    """The scan itself: a module with a status literal is found (so a passing scan means something)."""
    module = tmp_path / "copy.py"
    module.write_text('STATUSES = ("todo", "in_progress", "done")\nkind = f"{x[\'item.created\']}"\n')
    assert {value for _, value in _strings(module)} >= {"todo", "in_progress", "done", "item.created"}
