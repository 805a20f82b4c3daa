"""Background work of the action server, started once when the server starts.

Called from the rasa-sdk startup hook (rasa_sdk_plugins/__init__.py), not from the
first action that happens to need it. One function, so other jobs (the ticket
delivery loop) join here.
"""
from __future__ import annotations


def start_background_jobs() -> None:
    from imago_core.retention import start_daily_purge
    from imago_core.settings import get_settings

    get_settings()  # a bad setting (REQUEST_RETENTION_DAYS < 45) stops the server here, not in a thread
    start_daily_purge()
