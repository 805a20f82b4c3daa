"""The desk's verbs on the command line (imago_core/cli/desk.py), and `list --format`."""
from __future__ import annotations

import csv
import io
import json

from imago_core.cli.staff import main as staff_cli
from imago_core.requests.records import record_request
from imago_core.storage.models import RequestType


def test_cli_verbs_follow_the_law(isolated_env, capsys):
    view = record_request("cli@example.org", RequestType.ACCESS, None, "rest", "c1")
    assert staff_cli(["extend", view.reference, "--reason", "three systems", "--by", "maria"]) == 0
    assert "due" in capsys.readouterr().out
    assert staff_cli(["extend", view.reference, "--reason", "again"]) == 1
    assert "extended" in capsys.readouterr().err
    assert staff_cli(["pause", view.reference, "--question", "Which account?"]) == 0
    assert staff_cli(["complete", view.reference]) == 0  # resumes first: the team went on
    assert staff_cli(["refuse", view.reference, "--code", "exempt", "--reason", "x"]) == 1  # closed
    assert staff_cli(["assign", view.reference, "tom"]) == 0
    assert staff_cli(["note", view.reference, "posted the copy"]) == 0
    assert staff_cli(["start", "PRV-ZZZZZZ"]) == 2
    capsys.readouterr()

    assert staff_cli(["list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    (item,) = listed["requests"]
    assert (item["reference"], item["status"], item["assignee"], item["extended"]) == (
        view.reference, "completed", "tom", True)
    assert listed["counters"]["open"] == 0

    assert staff_cli(["list", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["reference"] for r in rows] == [view.reference] and rows[0]["regimes"] == "gdpr pdpo"


def test_refuse_takes_only_known_codes(isolated_env, capsys):
    view = record_request("cli2@example.org", RequestType.DELETION, None, "rest", "c1")
    try:
        staff_cli(["refuse", view.reference, "--code", "because", "--reason", "x"])
    except SystemExit as exc:
        assert exc.code == 2
    assert staff_cli(["refuse", view.reference, "--code", "identity_not_proven", "--reason", "no match",
                      "--by", "maria"]) == 0
    assert "rejected" in capsys.readouterr().out


def test_filing_reads_residence_from_the_visitors_own_messages():
    from actions.request_form.filing import volunteered_regimes

    class Tracker:
        events = [{"event": "bot", "text": "If you live in California, you have CCPA rights."},
                  {"event": "user", "text": "please delete my data"}]

    assert volunteered_regimes(Tracker()) == frozenset()
    Tracker.events.append({"event": "user", "text": "I live in California, by the way"})
    assert volunteered_regimes(Tracker()) == frozenset({"ccpa"})
