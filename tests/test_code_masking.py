"""Finding 8 of issue 9: codes are masked wherever the conversation is kept, also
when typed outside the code step, and an event broker gets the masked events."""
from __future__ import annotations

import json
import sqlite3
import time

from rasa.core.brokers.sql import SQLEventBroker
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from imago_core.identity.client_address import CLIENT_ADDRESS_KEY
from imago_core.identity.redaction import redact_all
from extensions.tracker_store import RedactingSQLTrackerStore


def code_sent(sender: str, at: float) -> DialogueStateTracker:
    return DialogueStateTracker.from_events(sender, [
        ActionExecuted("action_listen"), UserUttered("delete my data", timestamp=at),
        ActiveLoop("request_form", timestamp=at), SlotSet("email", "jane@example.org", timestamp=at),
        SlotSet("requested_slot", "otp_code", timestamp=at), ActionExecuted("action_listen", timestamp=at),
    ])


def stored_texts(path, sender: str):
    with sqlite3.connect(path) as db:
        rows = db.execute("select data from events where sender_id = ? order by id", (sender,)).fetchall()
    return [json.loads(r[0]).get("text") for r in rows if json.loads(r[0]).get("event") == "user"]


async def test_code_typed_after_cancel_is_masked_while_outstanding(tmp_path):
    store = RedactingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "t.db"))
    now = time.time()
    tracker = code_sent("c1", now)
    await store.save(tracker)
    tracker = await store.retrieve("c1")
    for event in (UserUttered("cancel", timestamp=now + 5), ActiveLoop(None, timestamp=now + 6),
                  SlotSet("requested_slot", None, timestamp=now + 6),
                  UserUttered("oh wait, the code was 482 913", timestamp=now + 30),
                  UserUttered("how long do you keep data", timestamp=now + 40)):
        tracker.update(event)
    await store.save(tracker)
    tracker = await store.retrieve("c1")
    tracker.update(UserUttered("order 654321 from last year", timestamp=now + 11 * 60))  # code long expired
    await store.save(tracker)
    texts = stored_texts(tmp_path / "t.db", "c1")
    assert "oh wait, the code was ******" in texts and not any("482" in t for t in texts)
    assert "order 654321 from last year" in texts  # after the code TTL nothing is outstanding


def test_code_accepted_ends_the_outstanding_window():
    now = time.time()
    events = [e.as_dict() for e in code_sent("c1", now).events] + [
        UserUttered("482913", timestamp=now + 10).as_dict(),
        SlotSet("otp_code", "******", timestamp=now + 11).as_dict(),
        SlotSet("requested_slot", None, timestamp=now + 11).as_dict(),
        UserUttered("my ticket 123456", timestamp=now + 20).as_dict(),
    ]
    texts = [e.get("text") for e in redact_all(events, 600) if e.get("event") == "user"]
    assert texts[-2:] == ["******", "my ticket 123456"]


def test_client_address_is_not_stored():
    event = UserUttered("hi", metadata={CLIENT_ADDRESS_KEY: "198.51.100.7", "other": 1}).as_dict()
    assert redact_all([event])[0]["metadata"] == {"other": 1}


async def test_event_broker_receives_masked_events(tmp_path):
    broker = SQLEventBroker(db=str(tmp_path / "broker.db"))
    store = RedactingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "t.db"), event_broker=broker)
    now = time.time()
    tracker = code_sent("c1", now)
    await store.save(tracker)
    tracker = await store.retrieve("c1")
    tracker.update(UserUttered("it is 482913", timestamp=now + 5))
    tracker.update(SlotSet("otp_code", "482913", timestamp=now + 5))
    await store.save(tracker)
    await store.stream_events(tracker)  # the other path Rasa has to the broker
    with sqlite3.connect(tmp_path / "broker.db") as db:
        published = " ".join(r[0] for r in db.execute("select data from events"))
    assert "delete my data" in published and "it is ******" in published
    assert "482913" not in published and "482" not in published
