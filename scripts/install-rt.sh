#!/usr/bin/env bash
# Install Request Tracker 5 (Debian's packages) for the ticket-backend tests.
#
# Idempotent: does nothing when rt-server is already there. Never prompts:
# debconf is preseeded so the package configures an SQLite database through
# dbconfig-common, with the fresh-install root password "password".
# The tests do not use that database: tests/support/rt_server.py starts its own
# rt-server on a throwaway SQLite file. The system one only has to exist so
# that the package's postinst is happy and RT_SiteConfig.d is in place.
set -euo pipefail

RT_SERVER=/usr/share/request-tracker5/libexec/rt-server

if [ -x "$RT_SERVER" ]; then
    echo "install-rt: request-tracker5 already installed ($RT_SERVER)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-rt: must run as root (or with sudo) to install request-tracker5" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive

echo "install-rt: apt-get update"
[ -n "${APT_UPDATED:-}" ] || $SUDO apt-get update -qq

# Questions asked by request-tracker5's config script and by dbconfig-common on
# its behalf (see `debconf-show request-tracker5` after an install).
$SUDO debconf-set-selections <<'EOF'
request-tracker5 request-tracker5/rtname string rt.localhost
request-tracker5 request-tracker5/organization string localhost
request-tracker5 request-tracker5/correspondaddress string rt@localhost
request-tracker5 request-tracker5/commentaddress string rt-comment@localhost
request-tracker5 request-tracker5/webbaseurl string http://localhost
request-tracker5 request-tracker5/webpath string /rt
request-tracker5 request-tracker5/handle-siteconfig-permissions boolean true
request-tracker5 request-tracker5/install-cronjobs boolean false
request-tracker5 request-tracker5/initial-root-password password password
request-tracker5 request-tracker5/dbconfig-install boolean true
request-tracker5 request-tracker5/database-type select sqlite3
request-tracker5 request-tracker5/db/dbname string rtdb
request-tracker5 request-tracker5/db/basepath string /var/lib/dbconfig-common/sqlite3/request-tracker5
EOF

echo "install-rt: apt-get install request-tracker5 rt5-db-sqlite rt5-standalone"
$SUDO apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    request-tracker5 rt5-db-sqlite rt5-standalone

if [ ! -x "$RT_SERVER" ]; then
    echo "install-rt: installed, but $RT_SERVER is missing" >&2
    exit 1
fi
echo "install-rt: done ($RT_SERVER)"
