"""Two Rasa replicas that really share the work (PostgreSQL tracker store, Redis locks,
socket.io through Redis): a staff reply sent through replica B reaches the visitor's
socket on replica A; 50 concurrent conversations whose messages alternate between the
replicas lose no turn and file no request twice."""
from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import socketio
from sqlalchemy import create_engine, text

from tests.support.services import postgres, redis_server  # noqa: F401 - session fixtures
from tests.support.stack import Stack, reply_text
from tests.test_conversation_rest import code_from

pytestmark = pytest.mark.e2e
TOKEN = "staff-token-for-scale-tests-0123456789"
CONVERSATIONS = 50


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, postgres, redis_server, smtp_server):  # noqa: F811
    project_db = postgres.create_database(f"imago_{uuid.uuid4().hex[:8]}")
    tracker_db = f"tracker_{uuid.uuid4().hex[:8]}"
    postgres.create_database(tracker_db)
    credentials = tmp_path_factory.mktemp("credentials") / "credentials.yml"
    credentials.write_text(
        "extensions.channels.rest.HardenedRestInput:\n"
        "extensions.channels.socketio.PersistentSocketIOInput:\n"
        "  user_message_evt: user_uttered\n  bot_message_evt: bot_uttered\n  session_persistence: true\n"
        f"  redis_url: redis://127.0.0.1:{redis_server.port}/2\n"
        "extensions.channels.staff.StaffConsoleInput:\n")
    # TRUSTED_PROXIES: the tests stand in for a load balancer on loopback, so each
    # visitor has its own address for the per-client code limits (X-Forwarded-For).
    env = dict(smtp_server.env(), DATABASE_URL=project_db, STAFF_TOKEN=TOKEN, TRUSTED_PROXIES="127.0.0.1")
    tracker_yaml = ("tracker_store:\n  type: extensions.tracker_store.RedactingSQLTrackerStore\n"
                    f"  dialect: postgresql\n  url: 127.0.0.1\n  port: {postgres.port}\n"
                    f"  db: {tracker_db}\n  username: {postgres.user}\n")
    lock_yaml = f"lock_store:\n  type: redis\n  url: 127.0.0.1\n  port: {redis_server.port}\n  db: 1\n  key_prefix: imago\n"
    first = Stack(tmp_path_factory.mktemp("replica-a"), env_overrides=env, credentials=credentials,
                  tracker_store_yaml=tracker_yaml, lock_store_yaml=lock_yaml).start()
    second = Stack(tmp_path_factory.mktemp("replica-b"), env_overrides=env, credentials=credentials,
                   tracker_store_yaml=tracker_yaml, lock_store_yaml=lock_yaml, actions_url=first.actions_webhook)
    try:
        second.start()
    except Exception:
        first.stop()
        raise
    yield first, second, project_db, f"postgresql+psycopg2://{postgres.user}@127.0.0.1:{postgres.port}/{tracker_db}"
    second.stop()
    first.stop()


async def _visitor_gets_staff_reply_from_other_replica(a: Stack, b: Stack) -> None:
    received: asyncio.Queue = asyncio.Queue()
    client = socketio.AsyncClient(reconnection=False)
    client.on("bot_uttered", lambda data: received.put_nowait(data))
    confirmed: asyncio.Queue = asyncio.Queue()
    client.on("session_confirm", lambda sid: confirmed.put_nowait(sid))
    # Long-polling: the venv's aiohttp is older than python-engineio's websocket client expects.
    await client.connect(a.url, socketio_path="/socket.io", transports=["polling"])
    try:
        # The server issues the (signed) session id; the socket may speak only as that one.
        await client.emit("session_request", {"session_id": None})
        session_id = await asyncio.wait_for(confirmed.get(), 30)
        await client.emit("user_uttered", {"message": "i want to talk to a real person", "session_id": session_id})
        told = ""
        while "ESC-" not in told:
            told += (await asyncio.wait_for(received.get(), 60)).get("text") or ""
        reference = told.split("reference ", 1)[1].split(")", 1)[0]
        while not received.empty():
            received.get_nowait()

        reply = await asyncio.to_thread(
            requests.post, f"{b.url}/webhooks/staff/api/escalations/{reference}/reply",
            json={"text": "Hello from replica B, this is Maria."}, headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30)
        assert reply.ok and reply.json()["delivered_live"] is True
        pushed = await asyncio.wait_for(received.get(), 15)
        # A staff reply reaches the visitor labelled as the privacy team's (a shared token has no name).
        assert pushed.get("text") == "**IMAGO privacy team:** Hello from replica B, this is Maria."
    finally:
        await client.disconnect()


def test_staff_reply_on_replica_b_reaches_visitor_socket_on_replica_a(replicas):
    a, b, _, _ = replicas
    asyncio.run(_visitor_gets_staff_reply_from_other_replica(a, b))


def test_concurrent_conversations_alternating_between_replicas(replicas, smtp):
    a, b, project_db, tracker_db = replicas
    run = uuid.uuid4().hex[:6]

    def conversation(i: int) -> tuple:
        sender, address = f"alt-{run}-{i}", f"visitor.{run}.{i}@example.org"
        replicas_in_turn = [a, b] if i % 2 else [b, a]
        said = 0

        def say(text_):
            nonlocal said
            said += 1
            # A network of its own for each visitor (IPv6 /64s of the documentation range): the send
            # limits count a client network, so visitors in one /24 would share one budget.
            replies = replicas_in_turn[said % 2].say(sender, text_, client=f"2001:db8:{i + 1:x}::7")
            assert replies, f"{sender}: no reply to turn {said}"
            return reply_text(replies)

        say("how long do you keep my data?")
        assert "email address" in say("I want a copy of all my data")
        assert "6-digit code" in say(address)
        assert "Shall I file it?" in say(code_from(smtp, address))
        assert "PRV-" in say("yes")
        say("do you sell my data?")
        return "rest:" + sender, said  # the REST channel's conversation id

    with ThreadPoolExecutor(max_workers=CONVERSATIONS) as pool:
        results = list(pool.map(conversation, range(CONVERSATIONS)))

    engine = create_engine(project_db)
    with engine.connect() as connection:
        filed = connection.execute(text(
            "select conversation_id, count(*) from privacy_requests where conversation_id like :p "
            "group by conversation_id"), {"p": f"rest:alt-{run}-%"}).all()
    engine.dispose()
    assert sorted(count for _, count in filed) == [1] * CONVERSATIONS  # one request each, none twice

    tracker = create_engine(tracker_db)
    with tracker.connect() as connection:
        user_turns = dict(connection.execute(text(
            "select sender_id, count(*) from events where sender_id like :p and type_name = 'user' "
            "group by sender_id"), {"p": f"rest:alt-{run}-%"}).all())
    tracker.dispose()
    assert user_turns == {sender: said for sender, said in results}  # every turn stored exactly once
