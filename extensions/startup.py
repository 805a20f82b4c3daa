"""What the Rasa server changes in Rasa itself when it starts: one place, one function.

Imported (and `install()` called) by the modules Rasa loads at startup from
endpoints.yml and credentials.yml: the tracker store (extensions/tracker_store.py)
and the channel package (extensions/channels/__init__.py). `install()` is idempotent.

1. Action-server responses are validated with one compiled validator per schema.
   Rasa 3.6's `RemoteAction._validate_action_result` calls `jsonschema.validate()` for
   every response of the action server. That call checks the schema against the
   meta-schema and builds a new validator each time, which was ~40 % of the server's
   CPU under load (docs/benchmarks.md). The replacement does the same checks in the
   same order (schema checked once, then `best_match(iter_errors(...))`, the same
   message appended to the same `ValidationError`), so an invalid response is still
   rejected exactly as before (tests/test_startup_validation.py).
2. `Event.resolve_by_type` remembers which class a type name resolved to. Rasa walks
   every subclass of `Event` for every event it deserialises (each tracker load), which
   was ~20 % of the server's time in long conversations. Names it cannot resolve are
   not remembered, so they go through Rasa's own lookup (and its errors) every time.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Dict, Text

from extensions import resend, store_failures

_installed = False
_install_lock = threading.Lock()
_validators: Dict[Callable, Any] = {}


def install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        _patch_action_result_validation()
        _patch_event_type_lookup()
        # A re-sent message gets its stored reply; a turn the action server could not
        # serve is abandoned whole (issue 21; extensions/resend.py).
        resend.install()
        # A tracker store that is away fails the turn (extensions/store_failures.py).
        store_failures.install()
        _installed = True


def compiled_validator(schema_factory: Callable[[], Dict[Text, Any]]):
    """One validator per schema factory; the schema itself is checked once, as
    `jsonschema.validate` would check it on every call."""
    validator = _validators.get(schema_factory)
    if validator is None:
        from jsonschema.validators import validator_for

        schema = schema_factory()
        cls = validator_for(schema)
        cls.check_schema(schema)  # a broken schema fails here, as it would in validate()
        validator = _validators.setdefault(schema_factory, cls(schema))
    return validator


def _patch_action_result_validation() -> None:
    from jsonschema import exceptions
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    def _validate_action_result(self, result: Dict[Text, Any]) -> bool:
        # Keyed by the (static) factory of the class, so a subclass with its own
        # response format gets its own validator.
        validator = compiled_validator(type(self).action_response_format_spec)
        error = exceptions.best_match(validator.iter_errors(result))
        if error is None:
            return True
        error.message += (
            f". Failed to validate Action server response from API, "
            f"make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
        raise error

    _validate_action_result.__doc__ = "Rasa's check, with a cached validator (extensions/startup.py)."
    RemoteAction._validate_action_result = _validate_action_result


def _patch_event_type_lookup() -> None:
    from rasa.shared.core.events import Event

    rasa_lookup = Event.resolve_by_type
    resolved: Dict[Text, Any] = {}

    def resolve_by_type(type_name: Text, default=None):
        cls = resolved.get(type_name)
        if cls is None:
            cls = rasa_lookup(type_name, default)
            if cls is not None and cls is not default and cls.type_name == type_name:
                resolved[type_name] = cls
        return cls

    resolve_by_type.__doc__ = "Rasa's lookup, remembered per type name (extensions/startup.py)."
    Event.resolve_by_type = staticmethod(resolve_by_type)
