#!/usr/bin/env bash
# Builds the chat widget's browser assets: web/widget/imago-chat.js from
# web/widget/src/*.js and web/widget/imago-chat.css from web/widget/src/*.css
# (python -m web.build_widget), then installs the pinned socket.io-client
# from web/package-lock.json (npm ci) and copies its browser bundle into
# web/vendor/, which web/server.py serves at /vendor/. Nothing is loaded from a
# CDN at run time.
#
# Idempotent: skips `npm ci` while web/node_modules matches the lock file, and
# the copy while web/vendor/ is current. FORCE=1 reinstalls.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WEB="$ROOT/web"
BUNDLE="$WEB/node_modules/socket.io-client/dist/socket.io.min.js"
VENDOR="$WEB/vendor"
STAMP="$WEB/node_modules/.imago-lock-sha1"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# The served widget from its modules and the widget: texts of data/texts/*.yml
# (python -m web.build_widget; the output is committed, so this only refreshes it).
PYBIN="$ROOT/.venv/bin/python"; [ -x "$PYBIN" ] || PYBIN=python3
(cd "$ROOT" && "$PYBIN" -m web.build_widget)

command -v npm >/dev/null 2>&1 || { echo "build-web: npm not found (apt-get install npm)" >&2; exit 1; }

lock_hash="$(cat "$WEB/package.json" "$WEB/package-lock.json" | sha1sum | cut -c1-40)"
if [ "${FORCE:-0}" = 1 ] || [ ! -f "$BUNDLE" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$lock_hash" ]; then
  log "build-web: npm ci (web/package-lock.json)"
  (cd "$WEB" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  echo "$lock_hash" > "$STAMP"
fi

[ -f "$BUNDLE" ] || { echo "build-web: $BUNDLE missing after npm ci" >&2; exit 1; }

mkdir -p "$VENDOR"
for file in socket.io.min.js socket.io.min.js.map; do
  src="$WEB/node_modules/socket.io-client/dist/$file"
  [ -f "$src" ] || continue
  if ! cmp -s "$src" "$VENDOR/$file"; then
    cp "$src" "$VENDOR/$file"
    log "build-web: web/vendor/$file updated"
  fi
done
