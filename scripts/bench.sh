#!/usr/bin/env bash
# Accuracy, latency, memory and training time of this pipeline against Rasa's
# default pipeline, in one run; writes docs/benchmarks.md. Takes ~30 minutes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_venv test
export PYTHONWARNINGS=ignore
"$PY" -m bench.bench "$@"
