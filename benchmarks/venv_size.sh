#!/usr/bin/env bash
# Size of the runtime install: a fresh venv with `pip install .` (no extras), as `du -sh`
# reports it, pip and setuptools of the venv included. The light-install target is under
# 120 MB (issue 15); the largest packages follow, to see what a new dependency costs.
set -euo pipefail
checkout="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "$checkout"
du -sh "$work/venv" | cut -f1
du -sh "$work"/venv/lib/python3*/site-packages/* | sort -h | tail -6
