"""Ids: what new_id() makes is exactly what is_id() and ID_PATTERN accept as one."""

from __future__ import annotations

import pytest

from chalicelib.tasks.ids import ID_LENGTH
from chalicelib.tasks.ids import ID_PATTERN
from chalicelib.tasks.ids import is_id
from chalicelib.tasks.ids import new_id


def test_every_new_id_is_an_id():
    made = [new_id() for _ in range(200)] + [new_id(0), new_id(2**48 - 1)]
    assert all(is_id(value) and len(value) == ID_LENGTH for value in made)
    assert all(ID_PATTERN.fullmatch(value) for value in made)


@pytest.mark.parametrize(
    "value",
    [
        "01jd0000000000000000000000",  # lower case
        "01JD000000000000000000000",  # 25 characters
        "01JD00000000000000000000000",  # 27
        "01JD0000000000000000000I00",  # I, L, O and U are not in Crockford's alphabet
        "01JD0000000000000000000L00",
        "01JD0000000000000000000O00",
        "01JD0000000000000000000U00",
        "",
        "../etc/passwd",
        None,
        42,
    ],
)
def test_anything_else_is_not_an_id(value):
    assert not is_id(value)
