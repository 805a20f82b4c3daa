"""Long conversations start a new session in the tracker store (slots carried over), so
what Rasa loads per turn stays bounded; codes stay masked; nothing is lost."""
from __future__ import annotations

import sqlite3

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from extensions.tracker_store import RedactingSQLTrackerStore
from tests.support.trackers import stored_event_text

DOMAIN = Domain.from_yaml("""
version: "3.1"
slots:
  verified_email: {type: any, mappings: []}
  otp_code: {type: any, mappings: []}
  requested_slot: {type: any, mappings: []}
""")


def store(tmp_path, max_events=20):
    return RedactingSQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp_path / "t.db"), max_session_events=max_events)


def turn(tracker, n):
    tracker.update(UserUttered(f"question {n}"))
    tracker.update(ActionExecuted("action_answer_policy"))
    tracker.update(BotUttered(f"answer {n}"))
    tracker.update(ActionExecuted("action_listen"))


async def converse(store_, sender, turns, before=()):
    """Like Rasa: load, add one turn, save, for each message."""
    for n in range(turns):
        tracker = await store_.retrieve(sender) or DialogueStateTracker(sender, DOMAIN.slots)
        if n == 0:
            for event in [ActionExecuted("action_listen"), *before]:
                tracker.update(event)
        turn(tracker, n)
        await store_.save(tracker)


async def test_a_long_conversation_is_loaded_in_bounded_sessions_with_its_slots(tmp_path):
    s = store(tmp_path)
    await converse(s, "c1", 60, before=[SlotSet("verified_email", "ada@example.org"),
                                         SlotSet("otp_code", "482913")])
    tracker = await s.retrieve("c1")
    assert len(tracker.events) <= 20 + 4 + 5  # the window, one turn, the session start
    assert any(isinstance(e, SessionStarted) for e in tracker.events)
    assert tracker.get_slot("verified_email") == "ada@example.org"
    assert tracker.get_slot("otp_code") == "******"  # carried over masked, never in clear
    full = await s.retrieve_full_tracker("c1")
    said = [e.text for e in full.events if isinstance(e, UserUttered)]
    assert said == [f"question {n}" for n in range(60)]  # no turn lost, none doubled
    with sqlite3.connect(tmp_path / "t.db") as db:
        stored = stored_event_text(row[0] for row in db.execute("select data from events"))
    assert "482913" not in stored


async def test_no_new_session_inside_a_form_or_while_paused(tmp_path):
    s = store(tmp_path, max_events=5)
    await converse(s, "form", 10, before=[ActiveLoop("request_form"), SlotSet("requested_slot", "email")])
    await converse(s, "paused", 10, before=[ConversationPaused()])
    for sender in ("form", "paused"):
        tracker = await s.retrieve(sender)
        assert not any(isinstance(e, SessionStarted) for e in tracker.events)
        assert len([e for e in tracker.events if isinstance(e, UserUttered)]) == 10


async def test_saving_the_same_tracker_again_after_a_new_session_stores_only_what_is_new(tmp_path):
    s = store(tmp_path, max_events=5)
    tracker = DialogueStateTracker("again", DOMAIN.slots)
    tracker.update(ActionExecuted("action_listen"))
    for n in range(3):
        turn(tracker, n)
    await s.save(tracker)  # 13 events > 5: a new session is written after them
    turn(tracker, 3)
    await s.save(tracker)
    turn(tracker, 4)
    await s.save(tracker)  # a third save: the mark moved on with the second, nothing written twice
    full = await s.retrieve_full_tracker("again")
    assert [e.text for e in full.events if isinstance(e, UserUttered)] == [f"question {n}" for n in range(5)]
    latest = await s.retrieve("again")
    assert [e.text for e in latest.events if isinstance(e, UserUttered)] == ["question 3", "question 4"]


async def test_zero_leaves_sessions_to_rasa(tmp_path):
    s = store(tmp_path, max_events=0)
    await converse(s, "c0", 30)
    assert len([e for e in (await s.retrieve("c0")).events if isinstance(e, UserUttered)]) == 30


async def test_sqlite_store_writes_ahead(tmp_path):
    s = store(tmp_path)
    await converse(s, "wal", 1)
    with sqlite3.connect(tmp_path / "t.db") as db:
        assert db.execute("pragma journal_mode").fetchone()[0] == "wal"
