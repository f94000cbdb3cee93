"""Build benchmark: wall time, CPU time and whole-tree peak memory per stage.

Run by hand (not in CI)::

    .venv/bin/python benchmarks/build.py 10000 100000

Each size gets a synthetic catalogue (``tipgraph synth``, seed 1) and a fresh
``tipgraph build`` in its own process. Wall and CPU seconds per stage come from
the build's ``report.json``. Memory is measured from outside: a sampler reads
the proportional set size (PSS, ``/proc/<pid>/smaps_rollup``) of the build and
of every process it forked (the dump writers) five times a
second and sums it. PSS shares a page between the processes that map it, so a
page a fork still shares with its parent is counted once, and the sum is what
the tree costs the machine. The peak of that sum is kept per stage, the stage
being the one the build last announced on its standard error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import append, machine, pss_kib, tree

STAGES = ("read", "publications", "statistics", "write", "indexes", "load",
          "validate", "dumps")
TIPGRAPH = str(Path(sys.executable).with_name("tipgraph"))
STAGE_LINE = re.compile(r"^(\w+) \.\.\.$")


class TreeMemory:
    """Samples the summed PSS of a process tree; keeps the peak per named stage."""

    def __init__(self, root: int, interval: float = 0.2, limit_kib: int | None = None) -> None:
        self.root, self.interval, self.limit_kib = root, interval, limit_kib
        self.killed = False
        self.stage = "start-up"
        self.peaks: dict[str, int] = {}
        #: at each stage's peak: the build's own PSS and how many processes it had forked
        self.at_peak: dict[str, tuple[int, int]] = {}
        #: (seconds, stage, PSS KiB of each process of the tree, the build's first)
        self.timeline: list[tuple[float, str, list[int]]] = []
        self._started = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(self.interval):
            sizes = [pss_kib(pid) for pid in tree(self.root)]
            self.timeline.append((round(time.monotonic() - self._started, 1), self.stage, sizes))
            if self.limit_kib is not None and sum(sizes) > self.limit_kib and not self.killed:
                self.killed = True  # the machine is shared: the whole tree goes
                for pid in tree(self.root):
                    with contextlib.suppress(OSError):
                        os.kill(pid, 9)
            if sum(sizes) > self.peaks.get(self.stage, 0):
                self.peaks[self.stage] = sum(sizes)
                self.at_peak[self.stage] = (sizes[0], len(sizes) - 1)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def run(size: int, workdir: Path, catalogue: Path | None = None,
        limit_mib: int | None = None, interval: float = 0.2) -> dict:
    source = catalogue or workdir / f"synthetic-{size}.jsonl"
    started = time.perf_counter()
    if catalogue is None:
        subprocess.run([TIPGRAPH, "synth", "--publications", str(size), "--seed", "1",
                        "--out", str(source)], check=True, capture_output=True)
    synth = time.perf_counter() - started
    started, cpu_before = time.perf_counter(), os.times()
    build = subprocess.Popen([TIPGRAPH, "build", "--source", str(source),
                              "--out", str(workdir / f"build-{size}")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    memory = TreeMemory(build.pid, interval, limit_kib=limit_mib * 1024 if limit_mib else None)
    assert build.stderr is not None
    said: list[str] = []  # the build's last lines, to say why it failed
    for line in build.stderr:  # "read ...", "read done in 1.2 s", ...
        said = [*said[-19:], line.rstrip()]
        match = STAGE_LINE.match(line.strip())
        if match:
            memory.stage = match.group(1)
    build.wait()
    memory.stop()
    wall = time.perf_counter() - started
    cpu_after = os.times()
    if memory.killed:
        raise SystemExit(f"the build of {size} was stopped: its tree passed {limit_mib} MiB "
                         f"in stage {memory.stage}")
    if build.returncode != 0:
        raise SystemExit(f"the build of {size} failed (exit code {build.returncode}) in "
                         f"stage {memory.stage}; its last words:\n" + "\n".join(said))
    report = json.loads((workdir / f"build-{size}" / "report.json").read_text())
    return {"size": size, "synth": synth, "wall": wall, "triples": report["triples"],
            "cpu_total": (cpu_after.children_user + cpu_after.children_system
                          - cpu_before.children_user - cpu_before.children_system),
            "timings": report["timings_seconds"], "cpu": report.get("cpu_seconds", {}),
            "tree_peak_mib": {stage: kib / 1024 for stage, kib in memory.peaks.items()},
            "timeline": memory.timeline,
            "main_at_peak_mib": {stage: (main / 1024, children)
                                 for stage, (main, children) in memory.at_peak.items()},
            "main_peak_mib": max(report["peak_memory_mb"].values())}


def table(rows: list[dict]) -> list[str]:
    """Per stage: wall s / CPU s / whole-tree peak MiB; then the whole build."""
    header = ("| publications | triples | " + " | ".join(STAGES)
              + " | wall s | CPU s | tree peak MiB | main process peak MiB | synth s |")
    lines = [header, "|" + "---:|" * (len(STAGES) + 7)]
    for row in rows:
        cells = []
        for stage in STAGES:
            wall = row["timings"].get(stage, 0.0)
            cpu = row["cpu"].get(stage, 0.0)
            peak = row["tree_peak_mib"].get(stage, 0.0)
            cells.append(f"{wall:.1f} / {cpu:.1f} / {peak:.0f}")
        peak = max(row["tree_peak_mib"].values(), default=0.0)
        lines.append(f"| {row['size']:,} | {row['triples']:,} | {' | '.join(cells)} | "
                     f"{row['wall']:.1f} | {row['cpu_total']:.1f} | {peak:.0f} | "
                     f"{row['main_peak_mib']:.0f} | {row['synth']:.1f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10000, 100000])
    parser.add_argument("--json", type=Path, help="Also write the raw figures here.")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="Make the catalogues and builds in DIR and keep them (e.g. to "
                        "measure a worker's start-up on the build after); by default they "
                        "are made in a temporary directory and removed.")
    parser.add_argument("--catalogue", type=Path, metavar="FILE",
                        help="Build this catalogue (made by `tipgraph synth --publications "
                        "SIZE --seed 1`) instead of making it; with one size only.")
    parser.add_argument("--kill-above", type=int, metavar="MIB",
                        help="Stop the build (its whole tree) when the tree passes MIB.")
    parser.add_argument("--interval", type=float, default=0.2, metavar="S",
                        help="Seconds between two samples of the tree's memory (default "
                        "0.2; reading the PSS of a process of gigabytes takes the kernel "
                        "milliseconds: at a million publications, 1 keeps the sampler off "
                        "the build's cores).")
    parser.add_argument("--print-only", action="store_true",
                        help="Print the figures without appending them to RESULTS.md.")
    args = parser.parse_args()
    if args.catalogue and len(args.sizes) != 1:
        parser.error("--catalogue goes with one size")
    rows = []
    with contextlib.ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            workdir = args.keep
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        for size in args.sizes:
            load = os.getloadavg()[0]
            rows.append(run(size, workdir, args.catalogue, args.kill_above, args.interval)
                        | {"load_before": load, "load_after": os.getloadavg()[0]})
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    loads = ", ".join(f"{r['size']:,}: {r['load_before']:.1f} -> {r['load_after']:.1f}"
                      for r in rows)
    lines = [f"{machine()}; `benchmarks/build.py {' '.join(map(str, args.sizes))}`. Each "
             "stage cell: wall s / CPU s / peak MiB of the whole process tree (summed PSS of "
             f"the build and the processes it starts, sampled every {args.interval:g} s). "
             "Wall s: the whole "
             "`tipgraph build` process with start-up; CPU s: the build and all its children. "
             f"1-minute load average before -> after each build: {loads}.", "", *table(rows)]
    if args.print_only:
        print("\n".join(lines))
    else:
        append("Build", lines)


if __name__ == "__main__":
    main()
