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

from sqlalchemy import create_engine, event, inspect, literal
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from imago_core.settings import get_settings
from imago_core.storage.addresses import canonicalise_stored_addresses
from imago_core.storage.models import Base

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
            engine = _make_engine(get_settings().database_url)
            try:
                Base.metadata.create_all(engine)
                add_missing_columns(engine, Base.metadata)
                canonicalise_stored_addresses(engine)  # rows an older release stored as typed
            except BaseException:
                # The database is away (a replica starting while PostgreSQL restarts): keep
                # no half-made engine, or every later call would find an engine and no
                # session factory and fail for the life of the process; the next call tries again.
                engine.dispose()
                raise
            _engine = engine
            _session_factory = sessionmaker(bind=_engine, future=True, expire_on_commit=False)
        return _engine


def add_missing_columns(engine: Engine, metadata) -> List[str]:
    """Brings a database made by an older release up to the models, additively.

    `create_all` creates missing tables but never touches existing ones, so a column
    added in a later release would be missing from a deployed database. A nullable
    column is added as it is; a NOT NULL one needs a scalar default, which fills the
    existing rows (`NOT NULL DEFAULT <literal>`, on SQLite and PostgreSQL alike). A
    unique column gets its unique index, and a missing index of the table is created.
    Nothing is dropped or rewritten. Returns what was added."""
    added: List[str] = []
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        new_columns = [column for column in table.columns if column.name not in present]
        for column in new_columns:
            kind = column.type.compile(dialect=engine.dialect)
            constraint = "" if column.nullable else f" NOT NULL DEFAULT {_default_literal(engine, table, column)}"
            with engine.begin() as connection:
                connection.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}{constraint}')
                if column.unique:
                    connection.exec_driver_sql(
                        f"CREATE UNIQUE INDEX uq_{table.name}_{column.name} ON {table.name} ({column.name})")
            added.append(f"{table.name}.{column.name}")
        if new_columns:
            indexes = {index["name"] for index in inspect(engine).get_indexes(table.name)}
            for index in table.indexes:
                if index.name not in indexes:
                    index.create(engine)
                    added.append(f"index {index.name}")
    if added:
        logger.warning("database upgraded in place: added %s", ", ".join(added))
    return added


def _default_literal(engine: Engine, table, column) -> str:
    """The column's Python-side default as SQL, e.g. `'NOT_NEEDED'` or `0`: what the
    rows already in the table get. Callable defaults (utcnow) cannot be expressed."""
    default = column.default
    if default is None or not default.is_scalar:
        raise RuntimeError(f"cannot add NOT NULL column {table.name}.{column.name} to an existing table:"
                           " it has no scalar default")
    value = literal(default.arg, type_=column.type)
    return str(value.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


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
