"""The one spelling of an email address that the assistant stores and matches on
(issue 23, finding 7).

Canonical = trimmed and lower-cased, local part included; nothing else changes.

- Letter case: verification already treats `Jane@Example.org` and `jane@example.org`
  as one address (the address key and the code hash are taken of the lower-cased
  address), and so does the open-request rule. RFC 5321 allows a case-sensitive
  local part, but no mail service in use hands out mailboxes that differ only in
  case. Matching exactly elsewhere made one person two: erasure and export missed
  the conversations verified in the other spelling, and the request list too.
- `+tags` are NOT folded here. Verification folds them for the send limits only
  (`verification.limit_address`), where folding makes a limit stricter. As an
  identity it would make access wider: on a server without sub-addressing
  `jane+x@` is someone else's mailbox, and proving it must not show `jane@`'s
  requests or erase her conversations.
- No dots removed, no Unicode folding: the address syntax accepted
  (verification._EMAIL) is ASCII, so SQL `lower()` and `str.lower()` agree, which
  the in-place upgrade of older rows relies on (`canonicalise_stored_addresses`).

Rows are written canonical by the models (`@validates` in imago_core/storage/models.py),
whoever writes them, and every lookup by address goes through `canonical_address`.
"""
from __future__ import annotations

import logging
from typing import List, Optional

from sqlalchemy.engine import Engine

logger = logging.getLogger(__name__)

# (table, column) holding an address; kept canonical in place by the upgrade below.
ADDRESS_COLUMNS = (
    ("verified_conversations", "email"),
    ("request_drafts", "email"),
    ("privacy_requests", "email"),
    ("escalations", "verified_email"),
)


def canonical_address(email: Optional[str]) -> Optional[str]:
    return email.strip().lower() if isinstance(email, str) else email


def canonicalise_stored_addresses(engine: Engine) -> List[str]:
    """Brings rows an older release stored as typed to the canonical spelling, in
    place (idempotent: a row already canonical is not touched). Returns the tables changed."""
    from sqlalchemy import inspect

    changed: List[str] = []
    inspector = inspect(engine)
    with engine.begin() as connection:
        for table, column in ADDRESS_COLUMNS:
            if not inspector.has_table(table):
                continue
            count = connection.exec_driver_sql(
                f"UPDATE {table} SET {column} = lower(trim({column})) "
                f"WHERE {column} IS NOT NULL AND {column} <> lower(trim({column}))").rowcount
            if count:
                changed.append(f"{table}.{column} ({count})")
    if changed:
        logger.warning("addresses brought to their canonical spelling: %s", ", ".join(changed))
    return changed
