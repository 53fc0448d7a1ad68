#!/usr/bin/env bash
# One prepared GPU run (under 8 minutes on one H100): cuda tests, training throughput of stream-mixer-48m and
# llama-48m per mode, generation at 4k context, strict fast eval time. Writes gpu_check.json and prints a table.
#   benchmarks/gpu_check.sh [--dry-run] [--out FILE] [--parts tests,train,generate,eval]
# --dry-run: every part at toy size on CPU (under 3 minutes), to know the script works before a GPU is lent.
# Needs no internet: a clean clone with ../shared beside it and .venv made with the lock's torch (GPU index).
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
start=$(date +%s)
"$PY" benchmarks/gpu_check.py "$@"
rc=$?
echo "[gpu_check] total $(( $(date +%s) - start )) s" >&2
exit $rc
