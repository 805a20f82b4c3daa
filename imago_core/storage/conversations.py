"""Plain-SQL access to the tracker store's `events` table, without importing Rasa.

The Rasa server writes conversations through extensions/tracker_store.py (a
subclass of Rasa's SQLTrackerStore: one row per event, `sender_id`, `timestamp` in
epoch seconds, `data` as JSON). Retention, export and erasure read and delete
those rows here, from the action server or the staff CLI, on SQLite or PostgreSQL
(TRACKER_STORE_URL).
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.engine import Engine

from imago_core.settings import ConfigError, get_settings

# The columns Rasa's SQLTrackerStore.SQLEvent declares (rasa/core/tracker_store.py).
_metadata = MetaData()
events = Table(
    "events", _metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)

_lock = threading.Lock()
_engines: Dict[str, Engine] = {}


class TrackerStoreMissing(RuntimeError):
    """The configured tracker store has no events table: it is not the store the Rasa
    server writes. Erasure and the purge stop instead of deleting nothing."""


def tracker_store_url() -> str:
    """TRACKER_STORE_URL, which erasure, export and the purge cannot do without."""
    url = get_settings().tracker_store_url
    if not url:
        raise ConfigError(
            "TRACKER_STORE_URL is not set: erasure, the data export and the retention purge need the "
            "database the Rasa server keeps conversations in (endpoints.yml tracker_store), e.g. "
            "postgresql+psycopg2://user:password@host:5432/rasa_tracker"
        )
    return url


def tracker_engine(url: Optional[str] = None) -> Engine:
    """One engine per URL, built on first use (never at import)."""
    url = url or tracker_store_url()
    with _lock:
        if url not in _engines:
            if url.startswith("sqlite"):
                # A busy timeout: a purge batch and a conversation turn wait for each
                # other briefly instead of failing.
                engine = create_engine(url, future=True, connect_args={"check_same_thread": False, "timeout": 30})
                event.listen(engine, "connect", _sqlite_wal)
                _engines[url] = engine
            else:
                _engines[url] = create_engine(url, future=True, pool_pre_ping=True)
        return _engines[url]


def _sqlite_wal(dbapi_connection, _record) -> None:
    # Write-ahead log: the Rasa server's reads of other conversations go on while a
    # purge batch writes (the mode is stored in the file, so Rasa's own connections
    # use it too); NORMAL sync is safe in WAL mode and commits a batch faster.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def store_exists(engine: Engine) -> bool:
    """Whether the store has Rasa's events table; checked without creating an empty
    SQLite file."""
    if engine.url.get_backend_name() == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:" or not Path(database).exists():
            return False
    return inspect(engine).has_table("events")


def require_store(engine: Engine) -> None:
    """Raises TrackerStoreMissing unless the store has Rasa's events table. The Rasa
    server creates it when it starts (extensions/store_checks.py), before any
    conversation, so a store without it is the wrong one: reading it as "no
    conversations" made erasure and the purge report success having deleted nothing."""
    if not store_exists(engine):
        where = engine.url.render_as_string(hide_password=True)
        raise TrackerStoreMissing(
            f"the tracker store {where} has no events table (is TRACKER_STORE_URL the database "
            "the Rasa server writes, endpoints.yml tracker_store?)"
        )


def idle_conversations(engine: Engine, idle_before: float) -> List[str]:
    """Conversations whose latest event is older than `idle_before` (epoch seconds)."""
    require_store(engine)
    query = select(events.c.sender_id).group_by(events.c.sender_id).having(func.max(events.c.timestamp) < idle_before)
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


def existing(engine: Engine, sender_ids: Sequence[str], batch_size: int = 500) -> List[str]:
    """Those of these conversations that still have events in the store."""
    require_store(engine)
    if not sender_ids:
        return []
    found: List[str] = []
    with engine.connect() as connection:
        for batch in batched(sender_ids, batch_size):
            found += connection.execute(
                select(events.c.sender_id).distinct().where(events.c.sender_id.in_(batch))).scalars().all()
    return found


def count_events(engine: Engine, sender_ids: Sequence[str]) -> int:
    require_store(engine)
    if not sender_ids:
        return 0
    with engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(events).where(events.c.sender_id.in_(list(sender_ids)))
        ).scalar_one()


def delete_conversations(engine: Engine, sender_ids: Sequence[str], still_idle_before: Optional[float] = None) -> int:
    """Deletes every event of these conversations in one short transaction. With
    `still_idle_before`, a conversation that got a newer event since it was found
    idle (the visitor came back) is left alone."""
    require_store(engine)
    if not sender_ids:
        return 0
    condition = events.c.sender_id.in_(list(sender_ids))
    if still_idle_before is not None:
        came_back = select(events.c.sender_id).where(condition, events.c.timestamp >= still_idle_before)
        condition = condition & events.c.sender_id.not_in(came_back)
    with engine.begin() as connection:
        return connection.execute(delete(events).where(condition)).rowcount


def delete_events_until(engine: Engine, sender_id: str, until: float) -> int:
    """Deletes one conversation's events up to `until` (epoch seconds), keeping later ones."""
    require_store(engine)
    with engine.begin() as connection:
        return connection.execute(
            delete(events).where(events.c.sender_id == sender_id, events.c.timestamp <= until)).rowcount


def conversation_events(engine: Engine, sender_id: str) -> List[dict]:
    """The stored events of one conversation, oldest first, as Rasa serialised them."""
    require_store(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            select(events.c.data).where(events.c.sender_id == sender_id).order_by(events.c.id)
        ).scalars()
        return [json.loads(data) for data in rows if data]


def batched(items: Iterable[str], size: int) -> Iterable[List[str]]:
    batch: List[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
