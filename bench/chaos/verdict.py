"""The verdict of the chaos run: tickets per reference in RT, waiting for every ticket
and mail to be out, the figures (exactly one ticket, duplicates, told but missing, lost
places, waits after each kind of kill) and the one line that prints them."""
from __future__ import annotations

import time
from collections import Counter
from typing import Dict

from .common import CODE_SUBJECT, KINDS, LONG_WAIT, REFERENCE  # first: the repository on sys.path
from .killer import Chaos
from .stack import Stack
from .visitors import Tally

from tests.support.rt_server import RTServer


def rt_tickets(rt: RTServer) -> Counter:
    """Tickets per reference in RT (by the `[PRV-…]` tag in the subject)."""
    per_reference: Counter = Counter()
    page = 1
    while page < 1000:
        answer = rt.api("GET", "tickets", params={"query": "Queue = 'General'", "fields": "Subject",
                                                  "per_page": "100", "page": str(page)}, timeout=60)
        answer.raise_for_status()
        body = answer.json()
        for item in body.get("items", []):
            for reference in REFERENCE.findall(str(item.get("Subject", ""))):
                per_reference[reference] += 1
        if page >= int(body.get("pages") or 1):
            break
        page += 1
    return per_reference


def wait_for_deliveries(stack: Stack, timeout: float) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(stack.project_db)
    deadline = time.monotonic() + timeout
    pending = -1
    try:
        while time.monotonic() < deadline:
            try:
                with engine.connect() as connection:
                    pending = connection.execute(text(
                        # The enum is stored by value ('pending'); upper() so a change of that cannot
                        # make this count 0 and the verdict come before the deliveries (it did once).
                        "select count(*) from privacy_requests where upper(delivery_state) = 'PENDING' "
                        "or (confirmation_due_at is not null and confirmation_sent_at is null)")).scalar_one()
            except Exception:  # noqa: BLE001 - PostgreSQL still recovering
                pending = -1
            if pending == 0:
                return 0
            time.sleep(2)
    finally:
        engine.dispose()
    return pending


def verdict(stack: Stack, tally: Tally, chaos: Chaos, visitors: int, rest: int, seconds: float) -> dict:
    from sqlalchemy import create_engine, text

    engine = create_engine(stack.project_db)
    with engine.connect() as connection:
        rows = connection.execute(text(
            "select reference, conversation_id, delivery_state, confirmation_sent_at is not null, external_id, "
            "delivery_attempts from privacy_requests")).all()
    engine.dispose()
    tickets = rt_tickets(stack.rt.server)
    first_start = min([w.started for w in tally.waits] or [0])
    recorded = {row[0] for row in rows}
    confirmed = {row[0] for row in rows if row[3]}
    with stack.smtp.lock:
        mailed = Counter(ref for m in stack.smtp.messages if m.message["Subject"] != CODE_SUBJECT
                         for ref in set(REFERENCE.findall(str(m.message["Subject"]))))
    told = set(tally.told)
    exactly_one = sum(1 for ref in recorded if tickets.get(ref) == 1)
    duplicates = sum(n - 1 for ref, n in tickets.items() if n > 1) + len(set(tickets) - recorded)
    missing = sorted(ref for ref in told if ref not in recorded or tickets.get(ref, 0) == 0)
    kills = Counter(kill.kind for kill in chaos.kills)
    recover: Dict[str, float] = {}
    for kind in KINDS:
        longest = 0.0
        for kill in (k for k in chaos.kills if k.kind == kind):
            back = kill.back_at or kill.at
            # Every message waiting at the kill or sent while it was down: how long it waited
            # for its answer from the kill (or from when it was sent) on.
            for wait in tally.waits:
                if wait.started <= back and wait.answered >= kill.at:
                    longest = max(longest, wait.answered - max(wait.started, kill.at))
        recover[kind] = round(longest, 1)
    restart = {kind: round(max([(k.back_at or k.at) - k.at for k in chaos.kills if k.kind == kind] or [0]), 1)
               for kind in KINDS}
    return {
        "visitors": visitors, "rest_visitors": rest, "socketio_visitors": visitors - rest,
        "conversations": tally.started, "references_told": len(told), "requests_recorded": len(recorded),
        "kills": {kind: kills.get(kind, 0) for kind in KINDS},
        "exactly_one_ticket": exactly_one, "duplicates": duplicates, "told_but_missing": len(missing),
        "missing_references": missing[:20], "lost_places": len(tally.lost_places),
        # What our records say of them: (reference, delivery state, RT ticket id, attempts).
        "missing_detail": [list(map(str, row[:1] + row[2:3] + row[4:6])) for row in rows if row[0] in missing][:20],
        "lost_place_examples": tally.lost_places[:5], "unexpected": len(tally.unexpected),
        "unexpected_examples": tally.unexpected[:5], "gave_up": tally.gave_up, "resent": tally.resent,
        "confirmation_mailed": len(confirmed & told), "confirmation_mails_missing": len(told - set(mailed)),
        "max_wait_after_kill_s": recover, "restart_s": restart,
        "waits_over_60s": sum(1 for w in tally.waits if w.answered - w.started > LONG_WAIT),
        "max_wait_s": round(max([w.answered - w.started for w in tally.waits] or [0]), 1),
        "longest_waits": [{"channel": w.channel, "seconds": round(w.answered - w.started, 1), "sends": w.sends,
                           "at_s": round(w.started - first_start, 1)}
                          for w in sorted(tally.waits, key=lambda w: w.started - w.answered)[:8]],
        "kills_at_s": [{"name": k.name, "at_s": round(k.at - first_start, 1),
                        "back_after_s": round((k.back_at or k.at) - k.at, 1)} for k in chaos.kills],
        "chaos_errors": chaos.errors, "seconds": round(seconds),
    }


def one_line(result: dict) -> str:
    kills = ",".join(f"{k}:{n}" for k, n in result["kills"].items())
    recover = ",".join(f"{k}:{s}" for k, s in result["max_wait_after_kill_s"].items())
    return (f"chaos: visitors={result['visitors']} ({result['rest_visitors']} REST, "
            f"{result['socketio_visitors']} socket.io) references_told={result['references_told']} "
            f"kills={kills} exactly_one_ticket={result['exactly_one_ticket']}/{result['requests_recorded']} "
            f"duplicates={result['duplicates']} told_but_missing={result['told_but_missing']} "
            f"lost_places={result['lost_places']} recover_s={recover} "
            f"(unexpected={result['unexpected']} gave_up={result['gave_up']} resent={result['resent']} "
            f"mails_missing={result['confirmation_mails_missing']} waits_over_60s={result['waits_over_60s']} "
            f"in {result['seconds']} s)")

