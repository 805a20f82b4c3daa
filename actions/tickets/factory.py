"""Pick the ticket backend named by TICKET_BACKEND and build it from the environment.

    TICKET_BACKEND=local    (default) no backend: the project's own database is the queue
    TICKET_BACKEND=rt       RT_URL, RT_QUEUE (default General), RT_TOKEN or RT_USER + RT_PASSWORD
    TICKET_BACKEND=zendesk  ZENDESK_SUBDOMAIN or ZENDESK_URL, ZENDESK_EMAIL, ZENDESK_TOKEN
    TICKET_TIMEOUT          seconds for each HTTP call (default 10)

`create_backend` returns None for "local": the delivery loop reads None as
"nothing to deliver". Building a backend opens no connection.
"""
from __future__ import annotations

import os
from typing import Any, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit, urlunsplit

from actions.settings import ConfigError

from .base import TicketBackend

BACKENDS = ("local", "rt", "zendesk")
DEFAULT_TIMEOUT = 10.0
DEFAULT_RT_QUEUE = "General"


def _resolve(settings_or_env: Any) -> Tuple[str, Mapping[str, str]]:
    """(backend name, variables) from a Settings object, a mapping, or the environment."""
    if settings_or_env is None:
        from actions.settings import get_settings

        settings = get_settings()  # also loads .env into the environment
        return settings.ticket_backend, os.environ
    if isinstance(settings_or_env, Mapping):
        return _get(settings_or_env, "TICKET_BACKEND") or "local", settings_or_env
    name = getattr(settings_or_env, "ticket_backend", None)
    if name is None:
        raise TypeError("create_backend takes a Settings object, a mapping of variables, or None")
    return name, os.environ


def _get(env: Mapping[str, str], name: str) -> Optional[str]:
    value = env.get(name)
    if value is None or not str(value).strip():
        return None
    return str(value).strip()


def _timeout(env: Mapping[str, str]) -> float:
    raw = _get(env, "TICKET_TIMEOUT")
    if raw is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"TICKET_TIMEOUT must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"TICKET_TIMEOUT must be more than 0 seconds, got {raw!r}")
    return value


def _missing_rt(env: Mapping[str, str]) -> List[str]:
    missing = []
    if not _get(env, "RT_URL"):
        missing.append("RT_URL")
    if not _get(env, "RT_TOKEN"):
        if not _get(env, "RT_USER") and not _get(env, "RT_PASSWORD"):
            missing.append("RT_TOKEN (or RT_USER and RT_PASSWORD)")
        else:
            missing += [name for name in ("RT_USER", "RT_PASSWORD") if not _get(env, name)]
    return missing


def _missing_zendesk(env: Mapping[str, str]) -> List[str]:
    missing = []
    if not _get(env, "ZENDESK_SUBDOMAIN") and not _get(env, "ZENDESK_URL"):
        missing.append("ZENDESK_SUBDOMAIN (or ZENDESK_URL)")
    missing += [name for name in ("ZENDESK_EMAIL", "ZENDESK_TOKEN") if not _get(env, name)]
    return missing


def _check_name(name: str) -> str:
    name = (name or "local").strip().lower()
    if name not in BACKENDS:
        raise ConfigError(f"TICKET_BACKEND must be one of {', '.join(BACKENDS)}; got {name!r}")
    return name


def create_backend(settings_or_env: Any = None) -> Optional[TicketBackend]:
    """The configured backend, or None for "local". Raises ConfigError naming what is missing."""
    name, env = _resolve(settings_or_env)
    name = _check_name(name)
    if name == "local":
        return None
    timeout = _timeout(env)
    if name == "rt":
        missing = _missing_rt(env)
        if missing:
            raise ConfigError("TICKET_BACKEND=rt needs " + ", ".join(missing))
        from .rt import RequestTrackerBackend

        token = _get(env, "RT_TOKEN")
        return RequestTrackerBackend(
            url=_get(env, "RT_URL"),
            queue=_get(env, "RT_QUEUE") or DEFAULT_RT_QUEUE,
            token=token,
            user=None if token else _get(env, "RT_USER"),
            password=None if token else _get(env, "RT_PASSWORD"),
            timeout=timeout,
        )
    missing = _missing_zendesk(env)
    if missing:
        raise ConfigError("TICKET_BACKEND=zendesk needs " + ", ".join(missing))
    from .zendesk import ZendeskBackend

    return ZendeskBackend(
        email=_get(env, "ZENDESK_EMAIL"),
        api_token=_get(env, "ZENDESK_TOKEN"),
        subdomain=_get(env, "ZENDESK_SUBDOMAIN"),
        url=_get(env, "ZENDESK_URL"),
        timeout=timeout,
    )


def _public_url(url: str) -> str:
    """The URL without any user:password@ part."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def describe_backend(settings_or_env: Any = None) -> str:
    """One line for logs saying which backend is configured; never a secret, never raises."""
    try:
        name, env = _resolve(settings_or_env)
        name = _check_name(name)
    except (ConfigError, TypeError) as exc:
        return f"ticket backend misconfigured ({exc})"
    if name == "local":
        return "ticket backend: local (requests stay in the project's database)"
    try:
        timeout = f"{_timeout(env):g}s"
    except ConfigError:
        timeout = "invalid TICKET_TIMEOUT"
    if name == "rt":
        missing = _missing_rt(env)
        if missing:
            return "ticket backend: rt, not configured (missing " + ", ".join(missing) + ")"
        auth = "token" if _get(env, "RT_TOKEN") else "basic"
        queue = _get(env, "RT_QUEUE") or DEFAULT_RT_QUEUE
        return (
            f"ticket backend: rt at {_public_url(_get(env, 'RT_URL'))}/REST/2.0/ "
            f"(queue {queue}, {auth} auth, timeout {timeout})"
        )
    missing = _missing_zendesk(env)
    if missing:
        return "ticket backend: zendesk, not configured (missing " + ", ".join(missing) + ")"
    url = _get(env, "ZENDESK_URL") or f"https://{_get(env, 'ZENDESK_SUBDOMAIN')}.zendesk.com"
    return f"ticket backend: zendesk at {_public_url(url)} (API token auth, timeout {timeout})"
