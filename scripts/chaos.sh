#!/usr/bin/env bash
# The chaos run (issue 21, bench/chaos/): the production-shaped stack on loopback
# (two Rasa replicas, two action servers, PostgreSQL, Redis, Request Tracker) while one
# process at a time is SIGKILLed and restarted; prints one line of figures.
#   scripts/chaos.sh [--requests 1000] [--visitors 8] [--kills-each 5] [--json out.json]
# As root it installs the Debian packages it needs (PostgreSQL, Redis, RT).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
if [ "$(id -u)" = 0 ]; then "$ROOT/scripts/install-system-deps.sh"; fi
ensure_venv test
IMAGO_TEST_MODEL="$(ensure_model)"
export IMAGO_TEST_MODEL PYTHONWARNINGS=ignore
exec "$PY" -m bench.chaos "$@"
