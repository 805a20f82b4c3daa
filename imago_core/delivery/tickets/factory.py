"""Builds the ticket backend named by `TICKET_BACKEND`, the way Rasa builds its stores from `type:`.

    TICKET_BACKEND=local    (default) no backend: the project's own database is the queue
    TICKET_BACKEND=rt       RT_URL, RT_QUEUE (default General), RT_TOKEN or RT_USER + RT_PASSWORD
    TICKET_BACKEND=zendesk  ZENDESK_SUBDOMAIN or ZENDESK_URL, and OAuth: ZENDESK_CLIENT_ID +
                            ZENDESK_CLIENT_SECRET (client credentials), or ZENDESK_ACCESS_TOKEN +
                            ZENDESK_REFRESH_TOKEN (+ ZENDESK_CLIENT_ID); deprecated until 30 April
                            2027: ZENDESK_EMAIL + ZENDESK_TOKEN
    TICKET_BACKEND=my_package.tickets.JiraBackend
                            a TicketBackend subclass of your own, built by its
                            `from_settings(settings)` classmethod (or with no arguments)
    TICKET_TIMEOUT          seconds for each HTTP call (default 10)

Everything is read through `imago_core.settings` (one route for configuration).
`create_backend` returns None for "local": the delivery loop reads None as
"nothing to deliver". Building a backend opens no connection. With no argument it
returns the one backend of the current Settings, built once (an OAuth backend keeps
its access token between delivery passes instead of asking for a new one each time).
"""
from __future__ import annotations

import importlib
import logging
import threading
from typing import List, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit, urlunsplit

from imago_core.settings import ConfigError, Settings, get_settings, load_settings

from .base import TicketBackend
from .rt import RequestTrackerBackend
from .transport import require_https
from .zendesk import ZendeskBackend
from .zendesk_auth import auth_from_settings

logger = logging.getLogger(__name__)

BUILT_IN = ("local", "rt", "zendesk")

SettingsLike = Union[Settings, Mapping[str, str], None]


def _settings(source: SettingsLike) -> Settings:
    """The Settings to build from: given, read from a mapping of variables, or the process's own."""
    if source is None:
        return get_settings()
    if isinstance(source, Settings):
        return source
    if isinstance(source, Mapping):
        return load_settings(source)
    raise TypeError("create_backend takes Settings, a mapping of variables, or None")


def _missing_rt(settings: Settings) -> List[str]:
    missing = [] if settings.rt_url else ["RT_URL"]
    if not settings.rt_token:
        if not settings.rt_user and not settings.rt_password:
            missing.append("RT_TOKEN (or RT_USER and RT_PASSWORD)")
        else:
            missing += [name for name, value in (("RT_USER", settings.rt_user),
                                                 ("RT_PASSWORD", settings.rt_password)) if not value]
    return missing


def _custom_class(path: str) -> type:
    module_name, _, class_name = path.rpartition(".")
    try:
        backend_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"TICKET_BACKEND={path}: cannot import it ({exc})") from None
    if not (isinstance(backend_class, type) and issubclass(backend_class, TicketBackend)):
        raise ConfigError(f"TICKET_BACKEND={path} is not a subclass of imago_core.delivery.tickets.base.TicketBackend")
    return backend_class


def _check_type(name: str) -> str:
    if name in BUILT_IN or "." in name:
        return name
    raise ConfigError(
        f"TICKET_BACKEND must be one of {', '.join(BUILT_IN)} or the class path of your own backend; got {name!r}"
    )


_built: Optional[Tuple[Settings, Optional[TicketBackend]]] = None
_built_lock = threading.Lock()


def create_backend(source: SettingsLike = None) -> Optional[TicketBackend]:
    """The configured backend, or None for "local". Raises ConfigError naming what is missing."""
    global _built
    if source is None:
        settings = get_settings()
        with _built_lock:
            if _built is None or _built[0] is not settings:
                backend = _build(settings)
                logger.info(describe_backend(settings))
                _built = (settings, backend)
            return _built[1]
    return _build(_settings(source))


def _build(settings: Settings) -> Optional[TicketBackend]:
    name = _check_type(settings.ticket_backend)
    if name == "local":
        return None
    if name == "rt":
        missing = _missing_rt(settings)
        if missing:
            raise ConfigError("TICKET_BACKEND=rt needs " + ", ".join(missing))
        require_https("RT_URL", settings.rt_url, settings.ticket_allow_http_loopback)
        return RequestTrackerBackend(
            url=settings.rt_url,
            queue=settings.rt_queue,
            token=settings.rt_token,
            user=None if settings.rt_token else settings.rt_user,
            password=None if settings.rt_token else settings.rt_password,
            timeout=settings.ticket_timeout,
        )
    if name == "zendesk":
        missing = settings.zendesk.missing()
        if missing:
            raise ConfigError("TICKET_BACKEND=zendesk needs " + ", ".join(missing))
        require_https("ZENDESK_URL", settings.zendesk.base_url, settings.ticket_allow_http_loopback)

        return ZendeskBackend(url=settings.zendesk.base_url, timeout=settings.ticket_timeout,
                              auth=auth_from_settings(settings.zendesk))
    backend_class = _custom_class(name)
    from_settings = getattr(backend_class, "from_settings", None)
    return from_settings(settings) if callable(from_settings) else backend_class()


def _public_url(url: str) -> str:
    """The URL without any user:password@ part."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def describe_backend(source: SettingsLike = None) -> str:
    """One line for logs saying which backend is configured; never a secret, never raises."""
    try:
        settings = _settings(source)
        name = _check_type(settings.ticket_backend)
    except (ConfigError, TypeError) as exc:
        return f"ticket backend misconfigured ({exc})"
    timeout = f"{settings.ticket_timeout:g}s"
    if name == "local":
        return "ticket backend: local (requests stay in the project's database)"
    if name == "rt":
        missing = _missing_rt(settings)
        if missing:
            return "ticket backend: rt, not configured (missing " + ", ".join(missing) + ")"
        auth = "token" if settings.rt_token else "basic"
        return (
            f"ticket backend: rt at {_public_url(settings.rt_url)}/REST/2.0/ "
            f"(queue {settings.rt_queue}, {auth} auth, timeout {timeout})"
        )
    if name == "zendesk":
        zendesk = settings.zendesk
        missing = zendesk.missing()
        if missing:
            return "ticket backend: zendesk, not configured (missing " + ", ".join(missing) + ")"
        auth = {
            "client_credentials": f"OAuth client credentials, scopes {zendesk.scope}",
            "token_pair": "OAuth access + refresh token",
            "api_token": "API token auth, DEPRECATED: Zendesk switches API tokens off on 30 April 2027",
        }[zendesk.auth_mode]
        return f"ticket backend: zendesk at {_public_url(zendesk.base_url)} ({auth}, timeout {timeout})"
    return f"ticket backend: {name} (your own class)"


__all__ = ["create_backend", "describe_backend", "BUILT_IN"]
