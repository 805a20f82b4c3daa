#!/usr/bin/env bash
# System packages the tests use, from Debian: Request Tracker 5 (ticketing tests)
# and Chromium (browser tests). Idempotent; needs root.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ -x "$here/install-rt.sh" ] && "$here/install-rt.sh"
[ -x "$here/install-browser.sh" ] && "$here/install-browser.sh"
exit 0
