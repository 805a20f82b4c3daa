#!/usr/bin/env bash
# Accuracy, latency, memory and training time of this pipeline against Rasa's
# default pipeline, in one run, then the retention purge; writes docs/benchmarks.md.
# Takes ~35 minutes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_venv test
export PYTHONWARNINGS=ignore
"$PY" -m bench.bench "$@"
# The retention purge of 100,000 old conversations (adds its section to docs/benchmarks.md).
"$PY" -m bench.purge_bench
