"""Every setting is documented: help text in ``config.py`` and a line in docs/settings.md
(the promise ``config.py`` makes)."""

from __future__ import annotations

import re
from pathlib import Path

from tipgraph.config import SETTINGS

DOCS = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def documented() -> set[str]:
    return set(re.findall(r"^\| `([a-z_]+)` \|", DOCS.read_text(encoding="utf-8"), re.M))


def test_every_setting_has_help_text() -> None:
    assert [s.name for s in SETTINGS if len(s.help.split()) < 3] == []


def test_every_setting_has_a_line_in_the_docs() -> None:
    assert sorted({s.name for s in SETTINGS} - documented()) == []


def test_the_docs_name_no_setting_that_is_gone() -> None:
    assert sorted(documented() - {s.name for s in SETTINGS}) == []
