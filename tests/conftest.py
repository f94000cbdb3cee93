"""Fixtures shared by every test: the fixture ladder starts from a real seed build."""

from __future__ import annotations

from pathlib import Path

import pytest

from tipgraph.build import BuildReport, run_build

ROOT = Path(__file__).resolve().parents[1]
SEED_SOURCES = (ROOT / "data" / "sources",)
BASE = "https://w3id.org/tipgraph/"


@pytest.fixture(scope="session")
def seed_build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build of the shipped catalogue, made once per test session."""
    out = tmp_path_factory.mktemp("seed-build")
    run_build(SEED_SOURCES, out, base=BASE)
    return out


@pytest.fixture(scope="session")
def seed_report(seed_build_dir: Path) -> BuildReport:
    import json

    return json.loads((seed_build_dir / "report.json").read_text(encoding="utf-8"))
