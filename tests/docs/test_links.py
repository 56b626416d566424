"""Every relative link of the docs reaches a file that exists, and a heading that exists when it names one."""

from __future__ import annotations

from urllib.parse import unquote

from tests.docs.markdown import DOCUMENTS
from tests.docs.markdown import ROOT
from tests.docs.markdown import anchors
from tests.docs.markdown import links


def test_every_relative_link_reaches_an_existing_file_and_heading():
    broken = []
    for document in DOCUMENTS:
        for number, target in links(document):
            if "://" in target or target.startswith("mailto:"):
                continue
            path_part, _, fragment = target.partition("#")
            path = (document.parent / unquote(path_part)).resolve() if path_part else document
            where = f"{document.relative_to(ROOT).as_posix()}:{number}: {target}"
            if not path.exists():
                broken.append(f"{where} (no such file)")
            elif fragment and path.suffix == ".md" and fragment not in anchors(path):
                broken.append(f"{where} (no such heading)")
    assert broken == []
