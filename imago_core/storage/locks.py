"""Serialising a check-then-write across processes, on SQLite and PostgreSQL.

A rate limit that counts rows and then inserts one is only a limit if no one else
counts in between. `serialise(session, name)` must be the first statement of the
transaction; it holds until that transaction ends.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.orm import Session


def _advisory_key(name: str) -> int:
    # pg_advisory_xact_lock takes a signed 64-bit key.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def serialise(session: Session, name: str) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _advisory_key(name)})
    elif dialect == "sqlite":
        # SQLite has one writer; taking the write lock up front (instead of upgrading a
        # read transaction later, which fails at once under WAL) queues the others on
        # the busy timeout.
        session.execute(text("BEGIN IMMEDIATE"))
    else:  # pragma: no cover - only the two supported databases
        raise RuntimeError(f"no lock for the {dialect} dialect")
