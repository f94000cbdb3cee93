"""What every benchmark shares: a line naming the machine, appending to RESULTS.md, and the
memory of a process tree."""

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


def tree(root: int) -> list[int]:
    """``root`` and every process below it."""
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as children:
                    pending.extend(int(child) for child in children.read().split())
        except OSError:  # ended meanwhile
            continue
    return found


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss_mib(root: int) -> float:
    """What the process tree below ``root`` costs the machine: its summed PSS, in MiB (a
    page shared between its processes counted once)."""
    return sum(pss_kib(pid) for pid in tree(root)) / 1024


def processes(root: int) -> list[tuple[int, int, float, float, float, float]]:
    """Each process of the tree below ``root``: (pid, depth: 0 for ``root``, RSS MiB,
    anonymous RSS MiB, PSS MiB, CPU seconds so far)."""
    found, pending = [], [(root, 0)]
    ticks = os.sysconf("SC_CLK_TCK")
    while pending:
        pid, depth = pending.pop()
        try:
            status = {}
            with open(f"/proc/{pid}/status", encoding="ascii") as handle:
                for line in handle:
                    name, _, value = line.partition(":")
                    status[name] = value.split()[0] if value.split() else ""
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as children:
                    pending.extend((int(child), depth + 1) for child in children.read().split())
        except OSError:  # ended meanwhile
            continue
        found.append((pid, depth, int(status.get("VmRSS", 0)) / 1024,
                      int(status.get("RssAnon", 0)) / 1024, pss_kib(pid) / 1024,
                      (int(fields[11]) + int(fields[12])) / ticks))
    return sorted(found, key=lambda row: (row[1], row[0]))


def tree_cpu_seconds(root: int) -> float:
    """The CPU seconds (user and system) the processes of the tree below ``root`` have
    used so far: on a shared machine, what a start-up costs, whatever the wait."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in tree(root):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks
