#!/usr/bin/env bash
# Runs the whole assistant on embedded defaults (SQLite, local mail outbox, local
# ticket store): action server :5055, Rasa :5005 (REST + socket.io), web :8080.
# Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv
ensure_env_file
mkdir -p var
[ -x scripts/build-web.sh ] && { scripts/build-web.sh || log "widget assets not built (npm unavailable?): the chat widget will not load"; }
MODEL="$(ensure_model)"

pids=()
cleanup() {
  trap - INT TERM EXIT
  log "stopping"
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

# Third-party deprecation warnings hidden by module and category (scripts/site/sitecustomize.py);
# the project's own warnings still show.
export PYTHONPATH="$ROOT/scripts/site${PYTHONPATH:+:$PYTHONPATH}"

start() { # name, command...
  local name="$1"; shift
  setsid "$@" > >(sed -u "s/^/[$name] /") 2>&1 &
  pids+=("$!")
}

# Loopback only, and every call must carry ACTION_SERVER_TOKEN (actions/server.py).
# Rasa reads it from the environment (endpoints.yml), the action server from .env too.
export ACTION_SERVER_TOKEN="${ACTION_SERVER_TOKEN:-$(sed -n 's/^ACTION_SERVER_TOKEN=//p' .env | tail -n 1)}"
start actions "$PY" -m actions.server --host "${ACTIONS_HOST:-127.0.0.1}" --port "${ACTIONS_PORT:-5055}"
start rasa "$VENV/bin/rasa" run --model "$MODEL" --interface "${RASA_INTERFACE:-127.0.0.1}" --port "${RASA_PORT:-5005}" \
  --credentials credentials.yml --endpoints endpoints.yml --cors "${RASA_CORS:-http://localhost:8080}"
start web "$PY" -m web.server --port "${WEB_PORT:-8080}"

log "starting: demo site http://localhost:${WEB_PORT:-8080}/  policy http://localhost:${WEB_PORT:-8080}/policy"
log "REST: POST http://localhost:${RASA_PORT:-5005}/webhooks/rest/webhook  (Ctrl-C stops everything)"
if grep -qE "^STAFF_TOKEN=.{32,}" .env; then
  log "privacy team's desk: http://localhost:${RASA_PORT:-5005}/webhooks/staff/requests  (sign in with STAFF_TOKEN from .env)"
else
  log "privacy team's desk: http://localhost:${RASA_PORT:-5005}/webhooks/staff/requests  (sign in with your STAFF_TOKENS entry)"
fi
wait -n "${pids[@]}" || true
log "a process exited; stopping the others"
