"""Build benchmark: time and peak memory per stage at several catalogue sizes.

Run by hand (not in CI)::

    .venv/bin/python benchmarks/build.py 1000 10000 100000

Each size gets a synthetic catalogue (``tipgraph synth``, seed 1) and a fresh
``tipgraph build`` in its own process; the stage timings and the process's
peak memory after each stage come from the build's ``report.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import append, machine

STAGES = ("read", "reconcile", "map", "reason", "statistics", "load", "indexes", "validate",
          "dumps")
TIPGRAPH = str(Path(sys.executable).with_name("tipgraph"))


def run(size: int, workdir: Path) -> dict:
    source = workdir / f"synthetic-{size}.jsonl"
    subprocess.run([TIPGRAPH, "synth", "--publications", str(size), "--seed", "1",
                    "--out", str(source)], check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run([TIPGRAPH, "build", "--quiet", "--source", str(source),
                    "--out", str(workdir / f"build-{size}")], check=True, capture_output=True)
    wall = time.perf_counter() - started
    report = json.loads((workdir / f"build-{size}" / "report.json").read_text())
    return {"size": size, "wall": wall, "triples": report["triples"],
            "timings": report["timings_seconds"], "cpu": report.get("cpu_seconds", {}),
            "peak": report["peak_memory_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 10000])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            rows.append(run(size, Path(tmp)))
    header = ("| publications | triples | " + " | ".join(STAGES)
              + " | wall s | CPU s | peak MiB |")
    lines = [f"{machine()}; `benchmarks/build.py {' '.join(map(str, args.sizes))}`: seconds "
             "per stage, wall time of the whole `tipgraph build` process (with start-up), "
             "CPU seconds of the build (with the process writing the dumps, which runs while "
             "validation does), peak resident memory of the build process.", "", header,
             "|" + "---:|" * (len(STAGES) + 5)]
    for row in rows:
        stages = " | ".join(f"{row['timings'].get(s, 0):.2f}" for s in STAGES)
        lines.append(f"| {row['size']:,} | {row['triples']:,} | {stages} | {row['wall']:.1f} | "
                     f"{sum(row['cpu'].values()):.1f} | {max(row['peak'].values()):.0f} |")
    append("Build", lines)


if __name__ == "__main__":
    main()
