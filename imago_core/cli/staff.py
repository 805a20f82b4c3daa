"""Command-line tool for the privacy team.

    imago-requests list [--status received] [--type deletion] [--overdue] [--email jane@example.org]
    imago-requests show PRV-7K3M9Q
    imago-requests set-status PRV-7K3M9Q completed [--note "sent by post"] [--by alice]
    imago-requests deliver [--loop]        (push pending requests to the ticket backend)
    imago-requests deliver --retry PRV-7K3M9Q [PRV-...]   (a failed request, once its cause is fixed)
    imago-requests deliver --retry-failed                 (every failed request, e.g. after fixing credentials)
    imago-requests purge [--dry-run]       (remove what is past its retention period)

(`python -m imago_core.cli.staff ...` works too.) Reads DATABASE_URL like the assistant.
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import List, Optional

from sqlalchemy import select

from imago_core import service  # noqa: F401 - registers what the outbox delivers
from imago_core.cli import desk
from imago_core.delivery.loop import run_forever
from imago_core.delivery.outbox import deliver_pending
from imago_core.delivery.tickets.zendesk_health import current_attention
from imago_core.identity.safe_text import printable
from imago_core.requests.deadlines import format_date
from imago_core.requests.erasure import ErasureFailed
from imago_core.requests.records import retry_delivery, set_status
from imago_core.requests.retention import purge
from imago_core.settings import ConfigError
from imago_core.storage.addresses import canonical_address
from imago_core.storage.conversations import TrackerStoreMissing
from imago_core.storage.db import session_scope
from imago_core.storage.models import (
    AuditEvent,
    DeliveryState,
    PrivacyRequest,
    RequestStatus,
    RequestType,
    utcnow,
)


def _print(*values, file=None) -> None:
    """print(), with what visitors typed made harmless for a terminal: no control or
    bidi character of a field can rewrite the screen or start a line of its own."""
    print(*(printable(value) for value in values), file=file)


def _os_user() -> str:
    """The operating-system account running the command: recorded next to `--by`,
    which anyone can type (imago_core/identity/safe_text.py keeps either from forging a line)."""
    try:
        name = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry (containers): the uid still says who
        name = f"uid {os.getuid()}"
    return printable(name)[:24]


def _actor(by: str) -> str:
    # audit_events.actor holds 64 characters: "staff:<by> (os <user>)".
    return f"staff:{printable(by)[:30]} (os {_os_user()})"[:64]


# Accepts "in_progress", "in-progress" and "in progress" alike.
STATUS_NAMES = {s.name.lower(): s for s in RequestStatus}


def _status(value: str) -> RequestStatus:
    try:
        return STATUS_NAMES[value.lower().replace("-", "_").replace(" ", "_")]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"unknown status {value!r}; one of: {', '.join(s.name.lower() for s in RequestStatus)}"
        ) from None


def _type(value: str) -> RequestType:
    try:
        return RequestType(value.lower().replace("-", "_"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown type {value!r}; one of: {', '.join(t.value for t in RequestType)}"
        ) from None


def _backend_attention() -> None:
    """The ticket backend's own problem (e.g. Zendesk credentials), found by its daily check."""
    problem = current_attention()
    if problem:
        print(f"ATTENTION ticket backend: {problem}")


def cmd_list(args) -> int:
    if args.format != "table":
        return desk.print_queue(args)
    _backend_attention()
    with session_scope() as session:
        query = select(PrivacyRequest).order_by(PrivacyRequest.due_at)
        if args.status:
            query = query.where(PrivacyRequest.status == args.status)
        if args.type:
            query = query.where(PrivacyRequest.request_type == args.type)
        if args.email:  # in any spelling: addresses are stored canonical (imago_core/storage/addresses.py)
            query = query.where(PrivacyRequest.email == canonical_address(args.email))
        if args.overdue:
            query = query.where(PrivacyRequest.due_at < utcnow(),
                                PrivacyRequest.status.in_([s for s in RequestStatus if s.is_open]))
        rows = session.execute(query).scalars().all()
        if not rows:
            _print("no requests match")
            return 0
        _print(f"{'reference':12} {'type':17} {'status':16} {'due':18} {'delivery':10} email")
        now = utcnow()
        for row in rows:
            late = " OVERDUE" if row.status.is_open and row.due_at < now else ""
            late += " ATTENTION" if row.needs_attention else ""
            _print(f"{row.reference:12} {row.request_type.value:17} {row.status.value:16} "
                  f"{format_date(row.due_at):18} {row.delivery_state.value:10} {row.email}{late}")
        _print(f"{len(rows)} request(s)")
    return 0


def cmd_show(args) -> int:
    with session_scope() as session:
        row = session.execute(
            select(PrivacyRequest).where(PrivacyRequest.reference == args.reference.upper())
        ).scalar_one_or_none()
        if row is None:
            _print(f"error: no request with reference {args.reference}", file=sys.stderr)
            return 2
        fields = [
            ("reference", row.reference), ("type", row.request_type.label), ("status", row.status.value),
            ("email", row.email), ("details", row.details or "-"), ("channel", row.channel or "-"),
            ("conversation", row.conversation_id or "-"), ("received", row.received_at.isoformat()),
            ("due", row.due_at.isoformat()), ("backend", row.backend),
            ("delivery", f"{row.delivery_state.value} (attempts {row.delivery_attempts})"),
            ("ticket", row.external_id or "-"),
        ]
        if row.filed_without_requester:
            fields.append(("requester", "not set on the ticket (suspended in the backend)"))
        if row.needs_attention:
            fields.append(("ATTENTION", row.needs_attention))
        if row.last_error:
            fields.append(("last error", row.last_error))
        for name, value in fields:
            _print(f"{name:>13}: {value}")
        if row.last_error_details:
            _print(f"{'error details':>13}:")
            for field_name, entries in json.loads(row.last_error_details).items():
                for entry in entries:
                    _print(f"{'':>15}{field_name}: {entry.get('error') or '-'}: {entry.get('description') or '-'}")
        if row.delivery_state is DeliveryState.FAILED:
            _print(f"{'to retry':>13}: fix the cause above, then run: imago-requests deliver --retry {row.reference}")
        _print()
        _print("audit trail:")
        for event in session.execute(
            select(AuditEvent).where(AuditEvent.request_id == row.id).order_by(AuditEvent.id)
        ).scalars():
            detail = f" {json.loads(event.detail)}" if event.detail else ""
            _print(f"  {event.at.isoformat()}  {event.actor:10} {event.event}{detail}")
    return 0


def cmd_set_status(args) -> int:
    try:
        view = set_status(args.reference, args.status, actor=_actor(args.by), note=args.note)
    except LookupError as exc:
        _print(f"error: {exc}", file=sys.stderr)
        return 2
    except ErasureFailed as exc:  # the status is stored; the erasure must be run again
        _print(f"error: {exc}", file=sys.stderr)
        return 1
    _print(f"{view.reference} is now {view.status.value}")
    return 0


def cmd_deliver(args) -> int:
    if args.loop:
        run_forever()
        return 0
    references = list(args.retry or [])
    if args.retry_failed:  # e.g. after fixing credentials every request of a pass failed on
        with session_scope() as session:
            references += session.execute(
                select(PrivacyRequest.reference).where(PrivacyRequest.delivery_state == DeliveryState.FAILED)
                .order_by(PrivacyRequest.id)).scalars().all()
        if not references:
            _print("no failed requests")
            return 0
    for reference in references:
        try:
            retry_delivery(reference, actor=_actor(args.by))
        except (LookupError, ValueError) as exc:
            _print(f"error: {exc}", file=sys.stderr)
            return 2
    report = deliver_pending()
    _print(f"delivered {report.delivered}, still pending {report.pending}, failed {report.failed}")
    if references:
        return _report_retried(references)
    return 0 if report.failed == 0 else 1


def _report_retried(references: List[str]) -> int:
    """One line per retried request: where it stands now, and why if it is not delivered."""
    ok = True
    with session_scope() as session:
        for reference in references:
            row = session.execute(
                select(PrivacyRequest).where(PrivacyRequest.reference == reference.upper())
            ).scalar_one()
            line = f"{row.reference}: {row.delivery_state.value}"
            if row.delivery_state is DeliveryState.DELIVERED:
                line += f" (ticket {row.external_id})"
            else:
                ok = False
                line += f": {row.last_error or 'waiting for the next attempt'}"
            _print(line)
    return 0 if ok else 1


def cmd_purge(args) -> int:
    try:
        report = purge(dry_run=args.dry_run)
    except (ConfigError, TrackerStoreMissing) as exc:
        _print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in report.lines():
        _print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imago-requests", description="Privacy requests for staff")
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="list requests, soonest due first")
    listing.add_argument("--status", type=_status)
    listing.add_argument("--type", type=_type)
    listing.add_argument("--overdue", action="store_true", help="open and past the due date")
    listing.add_argument("--email", help="only this address's requests (letter case does not matter)")
    listing.add_argument("--format", choices=("table", "json", "csv"), default="table",
                         help="json or csv: the desk's queue with its stored deadlines, without addresses")
    listing.set_defaults(func=cmd_list)

    show = commands.add_parser("show", help="one request with its audit trail")
    show.add_argument("reference")
    show.set_defaults(func=cmd_show)

    status = commands.add_parser("set-status", help="change a request's status")
    status.add_argument("reference")
    status.add_argument("status", type=_status)
    status.add_argument("--note")
    status.add_argument("--by", default="cli", help="who is making the change (for the audit log)")
    status.set_defaults(func=cmd_set_status)

    deliver = commands.add_parser("deliver", help="deliver pending requests to the ticket backend")
    deliver.add_argument("--loop", action="store_true", help="keep running, with backoff")
    deliver.add_argument("--retry", nargs="+", metavar="REFERENCE",
                         help="put these failed requests back in the queue and deliver them now")
    deliver.add_argument("--retry-failed", action="store_true", help="retry every failed request")
    deliver.add_argument("--by", default="cli", help="who asks for the retry (for the audit log)")
    deliver.set_defaults(func=cmd_deliver)

    purging = commands.add_parser("purge", help="remove what is past its retention period, by kind")
    purging.add_argument("--dry-run", action="store_true", help="count only, remove nothing")
    purging.set_defaults(func=cmd_purge)
    desk.add_commands(commands)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
