"""Issue 23, finding 10: the staff CLI records the operating-system user next to
`--by`, and neither what it prints nor what visitors type can carry control or
bidi characters to a staff member's terminal."""
from __future__ import annotations

import getpass
import json
import re

from sqlalchemy import select

from extensions.channels.rest import parse_body
from imago_core.cli import staff as staff_cli
from imago_core.requests import drafts
from imago_core.storage.db import session_scope
from imago_core.storage.models import AuditEvent, RequestDraft, RequestType
from imago_core.requests.records import record_request

# A terminal escape that clears the screen, a carriage return that overprints the
# line, a newline that forges a line of its own, and a right-to-left override.
HOSTILE = "name wrong\x1b[2J\r\n       status: completed \u202etxt.exe\u2066x\u2069\x07\x9b"
RAW = ["\x1b", "\r", "\u202e", "\u2066", "\u2069", "\x07", "\x9b"]


def test_show_prints_no_control_or_bidi_character(isolated_env, capsys):
    view = record_request("ada@example.org", RequestType.CORRECTION, HOSTILE, "rest", "conv\x1b[31m-1")
    assert staff_cli.main(["set-status", view.reference, "in_progress", "--note", "ok\x1b]0;pwned\x07",
                           "--by", "bob\nstatus: completed"]) == 0
    assert staff_cli.main(["show", view.reference]) == 0
    assert staff_cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert not [ch for ch in RAW if ch in out], [repr(ch) for ch in RAW if ch in out]
    # The forged line is not a line: it is shown escaped inside the details field.
    assert not re.search(r"^\s*status: completed", out, re.M)
    assert "\\x1b[2J" in out and "\\n" in out


def test_the_audit_names_the_os_user_next_to_by(isolated_env):
    view = record_request("ada@example.org", RequestType.ACCESS, None, "rest", "conv-1")
    assert staff_cli.main(["set-status", view.reference, "in_progress", "--by", "alice"]) == 0
    with session_scope() as session:
        actor = session.execute(select(AuditEvent.actor).where(AuditEvent.event == "status_changed")).scalar_one()
    assert actor == f"staff:alice (os {getpass.getuser()})"


def test_what_visitors_type_loses_control_and_bidi_characters(isolated_env):
    _, message, _ = parse_body(json.dumps({"sender": "s1", "message": HOSTILE}).encode())
    assert not [ch for ch in RAW if ch in message]
    assert "name wrong" in message and "\n" in message  # a line break is part of a message
    drafts.save_drafts("conv-1", "ada@example.org", [RequestType.CORRECTION], HOSTILE)
    with session_scope() as session:
        details = session.execute(select(RequestDraft.details)).scalar_one()
    assert not [ch for ch in RAW if ch in details]
    hebrew = "\u05e9\u05dc\u05d5\u05dd"  # right-to-left letters are text, not controls
    assert parse_body(json.dumps({"sender": "s1", "message": hebrew}).encode())[1] == hebrew
