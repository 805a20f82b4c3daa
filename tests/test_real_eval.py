"""The scoring of bench/real_eval.py, as the real-question file's header and issue 15
define it."""
from pathlib import Path

import pytest

from bench.real_eval import Item, Outcome, links_in, load_items, summarise

ROOT = Path(__file__).resolve().parents[1]


def outcome(topics, links=(), asked=False, flow=False, flow_started=False):
    return Outcome(Item("q", list(topics), flow), list(links), asked, flow_started)


@pytest.mark.parametrize("case, correct", [
    (outcome(["sharing", "data-sale"], links=["data-sale"]), True),
    (outcome(["sharing"], links=["retention"]), False),
    (outcome(["sharing"], links=["sharing"], asked=True), False),   # "did you mean" is a miss
    (outcome([], links=[]), True),
    (outcome([], links=["contact"]), True),
    (outcome([], links=["your-rights"]), True),
    (outcome([], links=["security"]), False),
    (outcome([], asked=True), False),
    (outcome(["your-rights"], flow=True, flow_started=True), True),
    (outcome(["your-rights"], flow=False, flow_started=True), False),
])
def test_scoring(case, correct):
    assert case.correct is correct


def test_honesty_wants_no_link_at_all():
    assert outcome([]).honest and not outcome([], links=["contact"]).honest


def test_links_are_read_from_the_section_anchors():
    replies = [{"text": "We keep it ... Source: [How long we keep data](http://localhost:8080/policy#retention)"},
               {"text": "no link here", "buttons": [{"title": "Also see: Security", "payload": "/policy_security"}]}]
    assert links_in(replies) == ["retention"]


def test_summary_counts_asks_honesty_and_confusions():
    summary = summarise([outcome(["sharing"], links=["sharing"]), outcome(["sharing"], asked=True),
                         outcome([], links=["security"])])
    assert summary["accuracy"] == pytest.approx(1 / 3)
    assert summary["ask_rate"] == pytest.approx(1 / 3)
    assert summary["honesty"] == 0.0
    assert summary["confusions"] == {"(policy silent)": {"security": 1}, "sharing": {"asked": 1}}


def test_both_file_formats_load():
    real = load_items(ROOT / "tests/nlu/real_questions.yml")
    assert len(real) >= 300 and any(i.flow for i in real) and any(not i.topics for i in real)
    held = load_items(ROOT / "tests/nlu/heldout.yml")
    assert {"retention"} in [set(i.topics) for i in held]
    assert any(i.flow for i in held) and any(not i.topics for i in held)
    assert not any("real person" in i.q for i in held)  # hand-off requests are skipped


def test_flow_started_finds_the_channel_prefixed_conversation(tmp_path):
    import json
    import sqlite3

    from bench.real_eval import flow_started

    db = tmp_path / "tracker.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE events (sender_id TEXT, type_name TEXT, data TEXT)")
        conn.execute("INSERT INTO events VALUES (?, 'active_loop', ?)",
                     ("rest:eval-1", json.dumps({"name": "request_form"})))
        conn.execute("INSERT INTO events VALUES (?, 'active_loop', ?)", ("rest:eval-2", json.dumps({"name": None})))
    assert flow_started(db, "eval-1")
    assert not flow_started(db, "eval-2")
    assert not flow_started(db, "eval-3")


def test_the_blind_set_cannot_show_its_misses(capsys):
    # tests/nlu/fresh_questions.yml is scored blind (issue 24): its questions are never shown.
    from bench.real_eval import main

    with pytest.raises(SystemExit):
        main(["--model", "unused.tar.gz", "--data", "tests/nlu/fresh_questions.yml", "--show-misses"])
    assert "blind" in capsys.readouterr().err


def test_aggregate_only_reports_keep_no_question_text(tmp_path, monkeypatch):
    import json

    import bench.real_eval as real_eval

    outcomes = [Outcome(Item("a secret question", ["retention"]), ["sharing"], False, False)]
    monkeypatch.setattr(real_eval, "evaluate_files", lambda model, files: {str(files[0]): summarise(outcomes)})
    report = tmp_path / "r.json"
    real_eval.main(["--model", "m", "--data", "x.yml", "--aggregate-only", "--report", str(report)])
    assert "a secret question" not in report.read_text()
    assert json.loads(report.read_text())["x.yml"]["confusions"] == {"retention": {"sharing": 1}}
