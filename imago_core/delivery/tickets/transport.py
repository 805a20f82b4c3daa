"""Ticket backends are reached over https only (issue 23, finding 10).

A ticket carries the visitor's address, their request and transcripts, and the
call carries the backend's credentials (an RT token, a Zendesk OAuth secret). Over
plain http anyone on the path reads both. `http://` is accepted only for a loopback
host (a backend on the same machine, a test double) and only when
TICKET_ALLOW_HTTP_LOOPBACK=true says so.
"""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from imago_core.settings import ConfigError

LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_https(variable: str, url: str, allow_http_loopback: bool) -> None:
    """ConfigError unless `url` is https, or http to loopback when that is allowed."""
    parts = urlsplit(url or "")
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and host and is_loopback(host):
        if allow_http_loopback:
            return
        raise ConfigError(f"{variable} must be an https:// URL; plain http to {host} is allowed only with "
                          "TICKET_ALLOW_HTTP_LOOPBACK=true (a backend on this machine)")
    raise ConfigError(f"{variable} must be an https:// URL (tickets carry addresses and the backend's "
                      f"credentials); got scheme {parts.scheme or 'none'!r}")
