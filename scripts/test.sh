#!/usr/bin/env bash
# Runs every test: data validation, the held-out NLU evaluation
# (fails under 90% intent accuracy), real visitors' questions answered end to end
# (fails under 85% answered with the right section), the Chinese held-out set answered end
# to end (fails under 85%) and pytest (unit, integration against real
# SMTP / Request Tracker / Rasa servers, and browser tests in headless Chromium).
# Installs what it needs first (system packages only when run as root, as in CI).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

if [ "$(id -u)" = 0 ]; then
  scripts/install-system-deps.sh
else
  log "not root: skipping system packages (Request Tracker, Chromium); their tests need them installed"
fi
ensure_venv test
[ -x scripts/build-web.sh ] && scripts/build-web.sh
scripts/install-deploy-tools.sh  # kubernetes-validate + hadolint for tests/test_deploy.py
MODEL="$(ensure_model)"
export IMAGO_TEST_MODEL="$MODEL"
mkdir -p results

log "rasa data validate"
"$VENV/bin/rasa" data validate --quiet || die "training data or domain is invalid"

log "held-out NLU evaluation (tests/nlu/heldout.yml, fails under 90% intent accuracy)"
"$PY" -m bench.nlu_eval --model "$MODEL" --data tests/nlu/heldout.yml --min-accuracy 0.90 \
  --report results/nlu-heldout.json

log "real visitors' questions through the running assistant (tests/nlu/real_questions.yml, fails under 85%)"
"$PY" -m bench.real_eval --model "$MODEL" --data tests/nlu/real_questions.yml --min-accuracy 0.85 \
  --report results/real-questions.json

# The Chinese held-out set (issue 22) is scored blind: bench/zh_eval.py prints aggregates
# only (per voice, script and section), never a question. The reply-in-the-question's-
# script check joins here when the replies in the visitor's language land (its hook is
# reply_script_matches in bench/zh_eval.py).
log "Chinese held-out set through the running assistant (tests/nlu/zh_heldout.yml, fails under 85%)"
"$PY" -m bench.zh_eval --model "$MODEL" --data tests/nlu/zh_heldout.yml --min-accuracy 0.85 \
  --report results/zh-heldout.json

# Missing real components fail their tests; skipping one takes naming it (IMAGO_SKIP=rt,browser).
# The policy's source in ../shared exists only beside the project's own checkouts (CI has it).
if [ ! -f "$ROOT/../shared/policy/imago-privacy-policy.txt" ]; then
  log "no ../shared beside this checkout: its policy comparison is skipped (IMAGO_SKIP=shared)"
  export IMAGO_SKIP="${IMAGO_SKIP:+$IMAGO_SKIP,}shared"
fi
[ -n "${IMAGO_SKIP:-}" ] && log "skipping on purpose: $IMAGO_SKIP"

log "pytest"
"$PY" -m pytest "$@"
