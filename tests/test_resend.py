"""Issue 21 (a), without servers: the stored reply of a turn, the client message id,
and the retry of a turn while a store or the action server is away."""
from __future__ import annotations

import asyncio

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from sqlalchemy.exc import OperationalError

from extensions.channels.turns import TurnFailed, run_turn, transient
from extensions.resend import TurnAbandoned, _action_server_unreachable, client_message_id, stored_reply


def test_client_message_ids_are_bounded_and_prefixed():
    assert client_message_id("abc-123_X") == "client-abc-123_X"
    for bad in (None, "", "a" * 65, "has space", "semi;colon", 42, {"x": 1}):
        assert client_message_id(bad) is None


def test_the_stored_reply_is_the_bot_messages_after_the_turn():
    events = [
        UserUttered("hello", message_id="client-1"),
        ActionExecuted("utter_greet"),
        BotUttered("Hi!", data={"buttons": [{"title": "A", "payload": "/a"}]}),
        BotUttered("Second bubble"),
        ActionExecuted("action_listen"),
        UserUttered("again", message_id="client-2"),
        BotUttered("Other turn"),
    ]
    assert stored_reply(events, "client-1") == [
        {"text": "Hi!", "buttons": [{"title": "A", "payload": "/a"}]}, {"text": "Second bubble"}]
    assert stored_reply(events, "client-2") == [{"text": "Other turn"}]
    assert stored_reply(events, "client-3") is None  # not stored: the turn runs


def test_a_stored_turn_without_reply_is_still_a_stored_turn():
    assert stored_reply([UserUttered("hi", message_id="client-1"), ActionExecuted("action_listen")],
                        "client-1") == []


def test_an_unreachable_action_server_is_recognised():
    from rasa.shared.exceptions import RasaException
    from rasa.utils.endpoints import ClientResponseError

    def raised(cause):
        try:
            try:
                raise cause
            except Exception as inner:
                raise RasaException("Failed to execute custom action") from inner
        except RasaException as outer:
            return outer

    assert _action_server_unreachable(raised(ClientResponseError(503, "Service Unavailable", "")))
    assert not _action_server_unreachable(raised(ClientResponseError(500, "Internal Server Error", "")))
    assert _action_server_unreachable(RasaException("Failed to execute custom action 'x'. Couldn't connect to "
                                                    "the server at 'http://a'."))


def test_turn_abandoned_passes_rasa_s_catch_all():
    """Rasa's processor catches every Exception an action raises and stores the turn
    anyway; the abandonment must get through it."""
    assert not issubclass(TurnAbandoned, Exception)


async def test_a_turn_is_run_again_while_the_store_is_away():
    attempts = []

    async def turn():
        attempts.append(1)
        if len(attempts) < 3:
            raise OperationalError("select 1", {}, ConnectionRefusedError())
        return "stored"

    assert await run_turn(turn, budget=10) == "stored"
    assert len(attempts) == 3


async def test_a_turn_that_keeps_failing_ends_in_turn_failed():
    async def turn():
        raise TurnAbandoned("action_x")

    with pytest.raises(TurnFailed):
        await run_turn(turn, budget=0.6)


async def test_a_bug_is_not_retried():
    attempts = []

    async def turn():
        attempts.append(1)
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        await run_turn(turn, budget=10)
    assert len(attempts) == 1


def test_what_counts_as_transient():
    from rasa.core.lock_store import LockError

    assert transient(LockError("redis away")) and transient(ConnectionRefusedError())
    assert transient(asyncio.TimeoutError()) and not transient(ValueError("bug"))
