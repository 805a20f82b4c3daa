"""The legal clocks (imago_core/requests/clocks): refusals, notices, the state machine
and its JSON history. Pure: no database, no servers.

Weekdays of the dates used, so a reader can check the moves past weekends:
2025-02-28 Fri, 2026-02-28 Sat, 2026-03-02 Mon, 2026-04-02 Thu, 2026-04-16 Thu,
2026-05-31 Sun, 2026-12-04 Fri, 2026-12-18 Fri, 2026-12-28 Mon, 2028-02-29 Tue.
"""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from imago_core.requests.clocks import (
    TRANSITIONS,
    Clock,
    ClockError,
    ClockEvent,
    ClockState,
    EventKind,
    ExtensionRefused,
    IllegalTransition,
    RefusalRejected,
    complaint_routes,
    refusal_grounds,
)
from imago_core.vocabulary import RequestStatus, RequestType
from tests.support.legal_clocks import DEFAULT, at, d


# --- refusals --------------------------------------------------------------------------

@pytest.mark.parametrize("code", [None, "", "because", "Identity_Not_Proven"])
def test_a_refusal_needs_a_known_reason_code(code):
    with pytest.raises(RefusalRejected, match="reason code"):
        Clock.open("access", DEFAULT, at("2026-03-02")).refuse(at("2026-03-03"), "ann", code, "no proof of identity")


@pytest.mark.parametrize("reason", [None, "", "  "])
def test_a_refusal_needs_free_text(reason):
    with pytest.raises(RefusalRejected, match="reasons"):
        Clock.open("access", DEFAULT, at("2026-03-02")).refuse(at("2026-03-03"), "ann", "exempt", reason)


def test_an_opt_out_cannot_be_refused():
    with pytest.raises(RefusalRejected, match="no ground"):
        Clock.open("marketing_optout", DEFAULT, at("2026-03-02")).refuse(at("2026-03-02"), "ann", "exempt", "why not")


def test_a_refusal_records_code_reason_and_the_notice_with_complaint_routes():
    clock = Clock.open("access", DEFAULT, at("2026-03-02")).pause(at("2026-03-03"), "ann", "Please send proof of identity")
    refused = clock.refuse(at("2026-03-20"), "ann", "identity_not_proven", "No proof of identity arrived")
    assert refused.state is ClockState.REFUSED and refused.state.status is RequestStatus.REJECTED
    last = refused.history[-1]
    assert (last.code, last.reason, last.actor) == ("identity_not_proven", "No proof of identity arrived", "ann")
    notice = [n for n in refused.deadline().notices if n.kind == "refusal"][0]
    assert notice.due == d("2026-04-02") and notice.pending
    assert {"reasons", "complaint_route:gdpr", "complaint_route:pdpo"} <= set(notice.must_include)
    assert any("12(4)" in s for s in notice.sources) and any("s.21" in s for s in notice.sources)
    grounds = dict(refusal_grounds(DEFAULT, "identity_not_proven"))
    assert "s.20(1)(a)" in grounds["pdpo"] and "12(6)" in grounds["gdpr"]
    routes = complaint_routes(DEFAULT, "zh-HK")
    assert any("私隱專員公署" in r for r in routes) and any("監管機構" in r for r in routes)
    assert any("PCPD" in r for r in complaint_routes(DEFAULT))


def test_a_late_refusal_is_told_the_same_day():
    late = Clock.open("access", ["gdpr"], at("2026-03-02")).refuse(at("2026-04-20"), "ann", "exempt", "Art. 23")
    assert [n.due for n in late.deadline().notices if n.kind == "refusal"] == [d("2026-04-20")]


# --- notices ---------------------------------------------------------------------------

def test_notices_are_pending_until_recorded_as_sent():
    clock = Clock.open("access", ["gdpr", "pdpo", "ccpa"], at("2026-03-02"))
    assert [n.kind for n in clock.deadline().notices_pending] == ["receipt"]
    clock = clock.notified(at("2026-03-02", 13), "assistant", "receipt")
    assert clock.deadline().notices_pending == ()
    clock = clock.extend(at("2026-03-20"), "ann", "complex")
    ext = [n for n in clock.deadline().notices_pending if n.kind == "extension"]
    # tell the visitor within the first month (the earliest window: GDPR's)
    assert ext and ext[0].due == d("2026-04-02") and {"reasons", "new_due"} <= set(ext[0].must_include)
    assert set(ext[0].regimes) == {"gdpr", "pdpo", "ccpa"}
    clock = clock.notified(at("2026-03-20", 13), "ann", "extension")
    assert clock.deadline().notices_pending == ()
    clock = clock.complete(at("2026-05-01"), "ann")
    assert [(n.kind, n.due) for n in clock.deadline().notices_pending] == [("completion", d("2026-05-01"))]


def test_a_notice_sent_before_an_event_does_not_count_for_it():
    clock = Clock.open("access", ["gdpr"], at("2026-03-02")).pause(at("2026-03-03"), "ann", "Which account?")
    clock = clock.notified(at("2026-03-03", 13), "ann", "question").resume(at("2026-03-05"), "visitor")
    clock = clock.pause(at("2026-03-06"), "ann", "And the other one?")
    assert [n.kind for n in clock.deadline().notices_pending] == ["question"]


def test_an_unknown_notice_is_refused():
    with pytest.raises(ClockError, match="unknown notice"):
        Clock.open("access", DEFAULT, at("2026-03-02")).notified(at("2026-03-02"), "ann", "postcard")


# --- the state machine -----------------------------------------------------------------

def _clock_in(state: ClockState) -> Clock:
    clock = Clock.open("access", DEFAULT, at("2026-03-02"))
    steps = {
        ClockState.RECEIVED: [],
        ClockState.IN_PROGRESS: [lambda c: c.start(at("2026-03-03"), "ann")],
        ClockState.WAITING_FOR_VISITOR: [lambda c: c.pause(at("2026-03-03"), "ann", "Which account?")],
        ClockState.COMPLETED: [lambda c: c.complete(at("2026-03-03"), "ann")],
        ClockState.REFUSED: [lambda c: c.refuse(at("2026-03-03"), "ann", "exempt", "Part 8")],
    }[state]
    for step in steps:
        clock = step(clock)
    assert clock.state is state
    return clock


_ACTIONS = {
    EventKind.STARTED: lambda c: c.start(at("2026-03-04"), "ann"),
    EventKind.PAUSED: lambda c: c.pause(at("2026-03-04"), "ann", "Which account?"),
    EventKind.RESUMED: lambda c: c.resume(at("2026-03-04"), "visitor"),
    EventKind.COMPLETED: lambda c: c.complete(at("2026-03-04"), "ann"),
    EventKind.REFUSED: lambda c: c.refuse(at("2026-03-04"), "ann", "exempt", "Part 8"),
    EventKind.EXTENDED: lambda c: c.extend(at("2026-03-04"), "ann", "complex"),
}


@pytest.mark.parametrize("state", list(ClockState))
@pytest.mark.parametrize("kind", list(_ACTIONS))
def test_every_transition_is_either_in_the_table_or_refused(state, kind):
    clock = _clock_in(state)
    legal = (state, kind) in TRANSITIONS or (kind is EventKind.EXTENDED and state.is_open)
    if legal:
        after = _ACTIONS[kind](clock)
        expected = state if kind is EventKind.EXTENDED else TRANSITIONS[(state, kind)]
        assert after.state is expected
        assert len(after.history) == len(clock.history) + 1
    else:
        with pytest.raises(IllegalTransition) as raised:
            _ACTIONS[kind](clock)
        assert state.value in str(raised.value)


def test_the_expected_paths_exist():
    assert TRANSITIONS[(ClockState.RECEIVED, EventKind.PAUSED)] is ClockState.WAITING_FOR_VISITOR
    assert TRANSITIONS[(ClockState.WAITING_FOR_VISITOR, EventKind.RESUMED)] is ClockState.IN_PROGRESS
    assert TRANSITIONS[(ClockState.IN_PROGRESS, EventKind.PAUSED)] is ClockState.WAITING_FOR_VISITOR
    assert (ClockState.WAITING_FOR_VISITOR, EventKind.COMPLETED) not in TRANSITIONS
    assert not any(s in (ClockState.COMPLETED, ClockState.REFUSED) for s, _ in TRANSITIONS)


def test_illegal_transitions_say_what_is_possible():
    with pytest.raises(IllegalTransition, match=r"cannot resume a request that is 'in_progress'; from 'in_progress' you can: pause, complete, refuse, extend"):
        _clock_in(ClockState.IN_PROGRESS).resume(at("2026-03-04"), "visitor")
    with pytest.raises(IllegalTransition, match="'completed' is final"):
        _clock_in(ClockState.COMPLETED).start(at("2026-03-04"), "ann")


def test_a_closed_clock_still_records_notices():
    done = _clock_in(ClockState.COMPLETED).notified(at("2026-03-04"), "assistant", "completion")
    assert done.state is ClockState.COMPLETED and done.deadline().notices_pending == ()


def test_events_cannot_go_back_in_time():
    clock = _clock_in(ClockState.IN_PROGRESS)
    with pytest.raises(ClockError, match="before the last one"):
        clock.pause(at("2026-03-02", 11), "ann", "Which account?")


def test_a_pause_needs_the_question():
    with pytest.raises(ClockError, match="question"):
        _clock_in(ClockState.IN_PROGRESS).pause(at("2026-03-04"), "ann", "  ")


def test_states_map_onto_the_visitor_statuses():
    assert {s: s.status for s in ClockState} == {
        ClockState.RECEIVED: RequestStatus.RECEIVED,
        ClockState.WAITING_FOR_VISITOR: RequestStatus.WAITING_FOR_YOU,
        ClockState.IN_PROGRESS: RequestStatus.IN_PROGRESS,
        ClockState.COMPLETED: RequestStatus.COMPLETED,
        ClockState.REFUSED: RequestStatus.REJECTED,
    }


def test_a_clock_is_immutable():
    clock = _clock_in(ClockState.RECEIVED)
    clock.start(at("2026-03-03"), "ann")
    assert clock.state is ClockState.RECEIVED and len(clock.history) == 1
    with pytest.raises(Exception):
        clock.history = ()


def test_a_clock_needs_a_known_request_type():
    with pytest.raises(ClockError):
        Clock.open("escalation", DEFAULT, at("2026-03-02"))


# --- the history as JSON ---------------------------------------------------------------

def _worked_clock() -> Clock:
    clock = Clock.open(RequestType.ACCESS, ["uk_gdpr", "pdpo", "ccpa"], at("2026-03-02"))
    clock = clock.notified(at("2026-03-02", 13), "assistant", "receipt")
    clock = clock.start(at("2026-03-03"), "Ann Lee").pause(at("2026-03-04"), "Ann Lee", "Which of your two accounts?")
    clock = clock.notified(at("2026-03-04", 13), "Ann Lee", "question").resume(at("2026-03-09"), "visitor", "replied by mail")
    clock = clock.extend(at("2026-03-20"), "Ann Lee", "Records in three systems, one archived")
    return clock.refuse(at("2026-03-25"), "Ann Lee", "manifestly_unfounded_or_excessive", "Fifth identical request this month: 你好")


def test_the_history_round_trips_through_json():
    clock = _worked_clock()
    text = clock.to_json()
    data = json.loads(text)
    assert data["version"] == 1 and data["request_type"] == "access"
    assert [e["kind"] for e in data["history"]] == [
        "received", "notified", "started", "paused", "notified", "resumed", "extended", "refused"]
    assert data["history"][-1]["code"] == "manifestly_unfounded_or_excessive"
    assert "你好" in text  # stored as written, not \u-escaped
    again = Clock.from_json(text)
    assert again == clock
    assert again.state is ClockState.REFUSED and again.due == clock.due
    assert again.deadline() == clock.deadline()
    assert again.to_json() == text


def test_every_event_says_kind_at_actor_reason_and_new_due():
    history = _worked_clock().history
    extended = [e for e in history if e.kind is EventKind.EXTENDED][0]
    assert extended.actor == "Ann Lee" and extended.reason.startswith("Records")
    assert extended.new_due is not None and extended.at == at("2026-03-20")
    assert all(e.new_due is not None for e in history)
    assert ClockEvent.from_dict(extended.to_dict()) == extended


def test_a_stored_history_the_rules_forbid_fails_on_load():
    data = _worked_clock().to_dict()
    second = dict(data["history"][6], at=at("2026-03-21").isoformat())
    data["history"].insert(7, second)  # a second extension
    with pytest.raises(ExtensionRefused):
        Clock.from_dict(data)


@pytest.mark.parametrize("tamper, error", [
    (lambda d: d.update(version=2), ClockError),
    (lambda d: d["history"].pop(0), ClockError),
    (lambda d: d["history"].append(dict(d["history"][0])), ClockError),
    (lambda d: d["history"][2].update(colour="red"), ValueError),
    (lambda d: d["history"][2].update(kind="teleported"), ValueError),
    (lambda d: d["history"][-1].update(code=None), RefusalRejected),
    (lambda d: d["history"].insert(3, {"kind": "completed", "at": at("2026-03-03").isoformat(), "actor": "x"}), IllegalTransition),
])
def test_a_damaged_history_fails_on_load(tamper, error):
    data = _worked_clock().to_dict()
    tamper(data)
    with pytest.raises(error):
        Clock.from_dict(data)


def test_naive_datetimes_are_read_as_utc():
    event = ClockEvent(EventKind.STARTED, datetime(2026, 3, 2, 12), "ann")
    assert event.at == at("2026-03-02")
    with pytest.raises(ValueError):
        ClockEvent(EventKind.STARTED, at("2026-03-02"), " ")
