"""What every benchmark shares: a line naming the machine, and appending to RESULTS.md."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import pyoxigraph

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, pyoxigraph {pyoxigraph.__version__}")


def append(title: str, lines: list[str]) -> str:
    """Print a dated section and append it to ``benchmarks/RESULTS.md``; returns it."""
    report = "\n".join([f"## {title}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "", *lines,
                        "", ""])
    print(report)
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\n", encoding="utf-8")
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(report)
    return report
