"""The ticket backend is chosen by type, like Rasa's stores: built-in names or a class path."""
from __future__ import annotations

import pytest

from imago_core.settings import ConfigError, Settings, load_settings
from imago_core.delivery.tickets.base import TicketBackend, TicketRef
from imago_core.delivery.tickets.factory import create_backend, describe_backend
from imago_core.delivery.tickets.rt import RequestTrackerBackend


class OwnBackend(TicketBackend):
    """A backend of the user's own, built from the one Settings object."""

    name = "own"

    def __init__(self, queue: str):
        self.queue = queue

    @classmethod
    def from_settings(cls, settings: Settings) -> "OwnBackend":
        return cls(queue=settings.rt_queue)

    def create(self, draft):  # pragma: no cover - not called here
        return TicketRef("own", "1")


class NotABackend:
    pass


def test_a_class_path_builds_the_users_own_backend_from_settings():
    backend = create_backend({"TICKET_BACKEND": f"{__name__}.OwnBackend", "RT_QUEUE": "Privacy"})
    assert isinstance(backend, OwnBackend) and backend.queue == "Privacy"
    assert "your own class" in describe_backend({"TICKET_BACKEND": f"{__name__}.OwnBackend"})


def test_a_class_path_that_is_not_a_backend_is_refused_with_its_name():
    with pytest.raises(ConfigError, match="not a subclass"):
        create_backend({"TICKET_BACKEND": f"{__name__}.NotABackend"})
    with pytest.raises(ConfigError, match="cannot import"):
        create_backend({"TICKET_BACKEND": "no_such_module.Backend"})


def test_settings_objects_and_variables_build_the_same_backend():
    env = {"TICKET_BACKEND": "RT", "RT_URL": "https://rt.example:8443/", "RT_TOKEN": "t0k", "TICKET_TIMEOUT": "3"}
    from_env, from_settings = create_backend(env), create_backend(load_settings(env))
    for backend in (from_env, from_settings):
        assert isinstance(backend, RequestTrackerBackend)
    assert describe_backend(env) == describe_backend(load_settings(env))
    assert "t0k" not in describe_backend(env) and "timeout 3s" in describe_backend(env)


def test_bad_timeouts_are_refused_where_settings_are_read():
    with pytest.raises(ConfigError, match="TICKET_TIMEOUT"):
        load_settings({"TICKET_TIMEOUT": "soon"})
    assert "misconfigured" in describe_backend({"TICKET_TIMEOUT": "-1"})
