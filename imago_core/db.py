"""Database access for the project's own records (SQLAlchemy 1.4).

The engine is built on first use from DATABASE_URL (SQLite by default, PostgreSQL
in production), never at import time, so tests can point it elsewhere.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path
from typing import Iterator, List, Optional

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from imago_core.settings import get_settings

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_engine: Optional[Engine] = None
_session_factory: Optional[sessionmaker] = None


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, future=True, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, future=True, pool_pre_ping=True)


def get_engine() -> Engine:
    global _engine, _session_factory
    with _lock:
        if _engine is None:
            from imago_core.models import Base

            _engine = _make_engine(get_settings().database_url)
            Base.metadata.create_all(_engine)
            add_missing_columns(_engine, Base.metadata)
            _session_factory = sessionmaker(bind=_engine, future=True, expire_on_commit=False)
        return _engine


def add_missing_columns(engine: Engine, metadata) -> List[str]:
    """Brings a database made by an older release up to the models, additively.

    `create_all` creates missing tables but never touches existing ones, so a column
    added in a later release would be missing from a deployed database. Every column
    added since the first release is nullable, so it can be added in place; a unique
    one gets its unique index. Nothing is dropped or rewritten. Returns what was added."""
    added: List[str] = []
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable:
                raise RuntimeError(f"cannot add NOT NULL column {table.name}.{column.name} to an existing table")
            kind = column.type.compile(dialect=engine.dialect)
            with engine.begin() as connection:
                connection.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}')
                if column.unique:
                    connection.exec_driver_sql(
                        f"CREATE UNIQUE INDEX uq_{table.name}_{column.name} ON {table.name} ({column.name})")
            added.append(f"{table.name}.{column.name}")
    if added:
        logger.warning("database upgraded in place: added %s", ", ".join(added))
    return added


@contextlib.contextmanager
def session_scope() -> Iterator[Session]:
    """A transaction: committed when the block ends, rolled back on an exception."""
    get_engine()
    session = _session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def reset_engine() -> None:
    """Forget the engine (tests switch databases between cases)."""
    global _engine, _session_factory
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine, _session_factory = None, None
