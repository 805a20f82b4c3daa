#!/usr/bin/env bash
# Debian packages the tests use: Request Tracker 5 (ticketing), Chromium (browser
# tests), PostgreSQL and Redis (the production stores), Node.js/npm (the widget's
# socket.io client). Idempotent; installs only what is missing; needs root.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

missing=()
[ -x /usr/share/request-tracker5/libexec/rt-server ] || missing+=(rt)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && { echo "system packages: all present"; exit 0; }

echo "system packages missing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
export APT_UPDATED=1
plain=()
for p in "${missing[@]}"; do
  case "$p" in
    rt) "$here/install-rt.sh" ;;
    chromium) "$here/install-browser.sh" ;;
    *) plain+=("$p") ;;
  esac
done
[ ${#plain[@]} -eq 0 ] || apt-get install -y -q --no-install-recommends "${plain[@]}"
