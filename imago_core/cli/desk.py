"""The desk's verbs on the command line, the same as the browser desk's actions:

    imago-requests extend PRV-7K3M9Q --reason "three systems hold the data" [--by maria]
    imago-requests pause PRV-7K3M9Q --question "Which account: the shop or the app?"
    imago-requests resume PRV-7K3M9Q
    imago-requests start PRV-7K3M9Q
    imago-requests complete PRV-7K3M9Q
    imago-requests refuse PRV-7K3M9Q --code identity_not_proven --reason "..."
    imago-requests assign PRV-7K3M9Q maria          (no name: unassign)
    imago-requests note PRV-7K3M9Q "called the visitor back"
    imago-requests list --format json|csv           (the desk's queue, with the stored deadlines)

Each goes through imago_core/requests/desk_actions.py: the legal checks, the audit log,
the visitor's mails and the ticket update are the same whichever way staff work.
"""
from __future__ import annotations

import json
import sys

from imago_core.requests import desk_queue
from imago_core.requests.clocks import REFUSAL_CODES
from imago_core.requests.desk_actions import DeskError, act


def cmd_act(args) -> int:
    fields = {name: getattr(args, name) for name in ("reason", "question", "code", "text") if getattr(args, name, None)}
    if args.command == "assign":
        fields["assignee"] = args.assignee or ""
    try:
        result = act(args.reference, args.command, f"staff:{args.by}", fields)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DeskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if "due" in result:
        print(f"{result['reference']} is now {result['status']}, due {result['due']}")
    else:
        print(f"{result['reference']}: {args.command} recorded")
    return 0


def print_queue(args) -> int:
    """`list --format json|csv`: the desk's queue (filters as on the desk), addresses left out."""
    filters = {"status": args.status.value if args.status else ("overdue" if args.overdue else ""),
               "type": args.type.value if args.type else ""}
    items = desk_queue.queue(filters)
    if args.format == "json":
        print(json.dumps({"requests": items, "counters": desk_queue.counters(items)}, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(desk_queue.to_csv(items))
    return 0


def add_commands(commands) -> None:
    def verb(name: str, text: str):
        parser = commands.add_parser(name, help=text)
        parser.add_argument("reference")
        parser.add_argument("--by", default="cli", help="who is acting (for the audit log)")
        parser.set_defaults(func=cmd_act)
        return parser

    verb("extend", "extend the legal deadline once, with the reason the visitor is told").add_argument(
        "--reason", required=True)
    verb("pause", "ask the visitor a question and wait for the answer").add_argument("--question", required=True)
    verb("resume", "the answer came: go on").add_argument("--reason")
    verb("start", "work has begun")
    verb("complete", "done; the visitor is told").add_argument("--reason")
    refuse = verb("refuse", "refuse, with a reason code and the reasons (logged, PDPO s.27)")
    refuse.add_argument("--code", required=True, choices=REFUSAL_CODES)
    refuse.add_argument("--reason", required=True)
    verb("assign", "give the request to a staff member").add_argument("assignee", nargs="?")
    verb("note", "add a note to the audit trail").add_argument("text")
