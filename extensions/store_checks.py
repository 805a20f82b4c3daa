"""Start-up checks for the SQL tracker store (no Rasa import).

Rasa's SQLTrackerStore logs "Could not create tables" when its database cannot be
opened and carries on; every later save then fails and the agent's
FailSafeTrackerStore silently keeps conversations in memory: nothing persisted,
the code masking bypassed. These checks make the store create its SQLite folder
and refuse to start, with a clear error, when the database cannot be reached.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Union

from sqlalchemy import MetaData, Table, select
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger(__name__)


class TrackerStoreUnavailable(RuntimeError):
    """The tracker store's database cannot be reached: the Rasa server must not start."""


def ensure_sqlite_folder(url: Union[str, URL]) -> None:
    url = make_url(str(url)) if not isinstance(url, URL) else url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def require_database(engine: Engine, metadata: MetaData, table: Table, wait_seconds: float) -> None:
    """Creates the tables if needed and reads one row; retries for `wait_seconds`
    (a database starting alongside the server), then raises."""
    deadline = time.monotonic() + max(wait_seconds, 0)
    while True:
        try:
            metadata.create_all(engine)
            with engine.connect() as connection:
                connection.execute(select(table.c.id).limit(1)).all()
            return
        except SQLAlchemyError as exc:
            if time.monotonic() >= deadline:
                # The URL without its password; the driver's message says why.
                raise TrackerStoreUnavailable(
                    f"the tracker store database {engine.url!r} cannot be reached "
                    f"({type(exc).__name__}: {' '.join(str(getattr(exc, 'orig', exc)).split())[:200]}). "
                    "Refusing to start: without it, conversations would be kept in memory only "
                    "and lost on restart. Check endpoints.yml (tracker_store) and that the database is up."
                ) from exc
            logger.warning("tracker store database not reachable yet; retrying")
            time.sleep(1.0)
