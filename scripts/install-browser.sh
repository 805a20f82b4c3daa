#!/usr/bin/env bash
# Installs Debian's Chromium (and a basic font) for the browser tests in
# tests/browser. Playwright drives it through executable_path=/usr/bin/chromium;
# `playwright install` (which downloads its own browser build) is never used.
#
# Idempotent: does nothing when /usr/bin/chromium and a DejaVu font are there.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf

if [ -x "$CHROMIUM" ] && [ -f "$FONT" ]; then
    echo "install-browser: chromium already installed ($("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"))"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-browser: must run as root (or with sudo) to install chromium" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-browser: apt-get update"
[ -n "${APT_UPDATED:-}" ] || $SUDO apt-get update -qq
echo "install-browser: apt-get install chromium fonts-dejavu-core"
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core

if [ ! -x "$CHROMIUM" ]; then
    echo "install-browser: installed, but $CHROMIUM is missing" >&2
    exit 1
fi
echo "install-browser: done ($("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"))"
