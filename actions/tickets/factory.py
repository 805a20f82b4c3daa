"""Pick the ticket backend named by TICKET_BACKEND and build it from the environment.

    TICKET_BACKEND=local    (default) no backend: the project's own database is the queue
    TICKET_BACKEND=rt       RT_URL, RT_QUEUE (default General), RT_TOKEN or RT_USER + RT_PASSWORD
    TICKET_BACKEND=zendesk  ZENDESK_SUBDOMAIN or ZENDESK_URL, and OAuth: ZENDESK_CLIENT_ID +
                            ZENDESK_CLIENT_SECRET (client credentials), or ZENDESK_ACCESS_TOKEN +
                            ZENDESK_REFRESH_TOKEN (+ ZENDESK_CLIENT_ID); deprecated until 30 April
                            2027: ZENDESK_EMAIL + ZENDESK_TOKEN (read through Settings.zendesk)
    TICKET_TIMEOUT          seconds for each HTTP call (default 10)

`create_backend` returns None for "local": the delivery loop reads None as
"nothing to deliver". Building a backend opens no connection. With no argument it
returns the one backend of the current Settings, built once (an OAuth backend keeps
its access token between delivery passes instead of asking for a new one each time).
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Any, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit, urlunsplit

from actions.settings import ConfigError, ZendeskSettings

from .base import TicketBackend

logger = logging.getLogger(__name__)

BACKENDS = ("local", "rt", "zendesk")
DEFAULT_TIMEOUT = 10.0
DEFAULT_RT_QUEUE = "General"


def _resolve(settings_or_env: Any) -> Tuple[str, Mapping[str, str], ZendeskSettings]:
    """(backend name, variables, Zendesk settings) from a Settings object, a mapping, or the environment."""
    if settings_or_env is None:
        from actions.settings import get_settings

        settings = get_settings()  # also loads .env into the environment
        return settings.ticket_backend, os.environ, settings.zendesk
    if isinstance(settings_or_env, Mapping):
        return (_get(settings_or_env, "TICKET_BACKEND") or "local", settings_or_env,
                ZendeskSettings.from_env(settings_or_env))
    name = getattr(settings_or_env, "ticket_backend", None)
    if name is None:
        raise TypeError("create_backend takes a Settings object, a mapping of variables, or None")
    return name, os.environ, settings_or_env.zendesk


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


def _check_name(name: str) -> str:
    name = (name or "local").strip().lower()
    if name not in BACKENDS:
        raise ConfigError(f"TICKET_BACKEND must be one of {', '.join(BACKENDS)}; got {name!r}")
    return name


_built: Optional[Tuple[Any, Optional[TicketBackend]]] = None
_built_lock = threading.Lock()


def create_backend(settings_or_env: Any = None) -> Optional[TicketBackend]:
    """The configured backend, or None for "local". Raises ConfigError naming what is missing."""
    global _built
    if settings_or_env is None:
        from actions.settings import get_settings

        settings = get_settings()
        with _built_lock:
            if _built is None or _built[0] is not settings:
                backend = _build(settings)
                logger.info(describe_backend(settings))
                _built = (settings, backend)
            return _built[1]
    return _build(settings_or_env)


def _build(settings_or_env: Any) -> Optional[TicketBackend]:
    name, env, zendesk = _resolve(settings_or_env)
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
    missing = zendesk.missing()
    if missing:
        raise ConfigError("TICKET_BACKEND=zendesk needs " + ", ".join(missing))
    from .zendesk import ZendeskBackend
    from .zendesk_auth import auth_from_settings

    return ZendeskBackend(url=zendesk.base_url, timeout=timeout, auth=auth_from_settings(zendesk))


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
        name, env, zendesk = _resolve(settings_or_env)
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
    missing = zendesk.missing()
    if missing:
        return "ticket backend: zendesk, not configured (missing " + ", ".join(missing) + ")"
    auth = {
        "client_credentials": f"OAuth client credentials, scopes {zendesk.scope}",
        "token_pair": "OAuth access + refresh token",
        "api_token": "API token auth, DEPRECATED: Zendesk switches API tokens off on 30 April 2027",
    }[zendesk.auth_mode]
    return f"ticket backend: zendesk at {_public_url(zendesk.base_url)} ({auth}, timeout {timeout})"
