"""Builds the ticket backend named by `TICKET_BACKEND`, the way Rasa builds its stores from `type:`.

    TICKET_BACKEND=local    (default) no backend: the project's own database is the queue
    TICKET_BACKEND=rt       RT_URL, RT_QUEUE (default General), RT_TOKEN or RT_USER + RT_PASSWORD
    TICKET_BACKEND=zendesk  ZENDESK_SUBDOMAIN or ZENDESK_URL, ZENDESK_EMAIL, ZENDESK_TOKEN
    TICKET_BACKEND=my_package.tickets.JiraBackend
                            a TicketBackend subclass of your own, built by its
                            `from_settings(settings)` classmethod (or with no arguments)
    TICKET_TIMEOUT          seconds for each HTTP call (default 10)

Everything is read through `imago_core.settings` (one route for configuration).
`create_backend` returns None for "local": the delivery loop reads None as
"nothing to deliver". Building a backend opens no connection.
"""
from __future__ import annotations

import importlib
from typing import Any, List, Mapping, Optional, Union
from urllib.parse import urlsplit, urlunsplit

from imago_core.settings import ConfigError, Settings, get_settings, load_settings

from .base import TicketBackend

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


def _missing_zendesk(settings: Settings) -> List[str]:
    missing = [] if (settings.zendesk_subdomain or settings.zendesk_url) else ["ZENDESK_SUBDOMAIN (or ZENDESK_URL)"]
    missing += [name for name, value in (("ZENDESK_EMAIL", settings.zendesk_email),
                                         ("ZENDESK_TOKEN", settings.zendesk_token)) if not value]
    return missing


def _custom_class(path: str) -> type:
    module_name, _, class_name = path.rpartition(".")
    try:
        backend_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"TICKET_BACKEND={path}: cannot import it ({exc})") from None
    if not (isinstance(backend_class, type) and issubclass(backend_class, TicketBackend)):
        raise ConfigError(f"TICKET_BACKEND={path} is not a subclass of imago_core.tickets.base.TicketBackend")
    return backend_class


def _check_type(name: str) -> str:
    if name in BUILT_IN or "." in name:
        return name
    raise ConfigError(
        f"TICKET_BACKEND must be one of {', '.join(BUILT_IN)} or the class path of your own backend; got {name!r}"
    )


def create_backend(source: SettingsLike = None) -> Optional[TicketBackend]:
    """The configured backend, or None for "local". Raises ConfigError naming what is missing."""
    settings = _settings(source)
    name = _check_type(settings.ticket_backend)
    if name == "local":
        return None
    if name == "rt":
        missing = _missing_rt(settings)
        if missing:
            raise ConfigError("TICKET_BACKEND=rt needs " + ", ".join(missing))
        from .rt import RequestTrackerBackend

        return RequestTrackerBackend(
            url=settings.rt_url,
            queue=settings.rt_queue,
            token=settings.rt_token,
            user=None if settings.rt_token else settings.rt_user,
            password=None if settings.rt_token else settings.rt_password,
            timeout=settings.ticket_timeout,
        )
    if name == "zendesk":
        missing = _missing_zendesk(settings)
        if missing:
            raise ConfigError("TICKET_BACKEND=zendesk needs " + ", ".join(missing))
        from .zendesk import ZendeskBackend

        return ZendeskBackend(
            email=settings.zendesk_email,
            api_token=settings.zendesk_token,
            subdomain=settings.zendesk_subdomain,
            url=settings.zendesk_url,
            timeout=settings.ticket_timeout,
        )
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
        missing = _missing_zendesk(settings)
        if missing:
            return "ticket backend: zendesk, not configured (missing " + ", ".join(missing) + ")"
        url = settings.zendesk_url or f"https://{settings.zendesk_subdomain}.zendesk.com"
        return f"ticket backend: zendesk at {_public_url(url)} (API token auth, timeout {timeout})"
    return f"ticket backend: {name} (your own class)"


__all__ = ["create_backend", "describe_backend", "BUILT_IN"]
