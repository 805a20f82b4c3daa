"""Issue 9 against the real Rasa and action servers: borrowed conversations (two
socket.io clients, a REST attacker), the closed action server, parallel guesses and
sends, bad input, the staff console, codes kept out of logs. Nothing is mocked: the
mails go through the test SMTP server."""
from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from imago_core.identity.client_address import TOO_LONG_REPLY
from tests.support.net import free_port
from tests.test_conversation_rest import code_from
from tests.support.stack import ACTION_SERVER_TOKEN, ROOT, VENV_BIN, Stack, reply_text
from tests.support.widget_client import WidgetClient

pytestmark = pytest.mark.e2e
REST_TOKEN = "rest-token-for-the-security-tests-0123456789"
MARIA, TOM = "maria-token-0123456789-abcdefghijklmnop", "tom-token-0123456789-abcdefghijklmnopqr"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, smtp_server):
    running = Stack(tmp_path_factory.mktemp("security"), env_overrides=dict(
        smtp_server.env(), REST_TOKEN=REST_TOKEN, STAFF_TOKENS=f"maria:{MARIA},tom:{TOM}",
        TRUSTED_PROXIES="127.0.0.1")).start()
    yield running
    running.stop()


def rest(stack: Stack, body, token=REST_TOKEN, client=None, raw=False):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if client:
        headers["X-Forwarded-For"] = client  # believed: the test runs as the trusted proxy 127.0.0.1
    if raw:
        return requests.post(f"{stack.url}/webhooks/rest/webhook", data=body, headers=headers, timeout=60)
    return requests.post(f"{stack.url}/webhooks/rest/webhook", json=body, headers=headers, timeout=60)


def say(stack: Stack, sender: str, text: str, client=None) -> str:
    response = rest(stack, {"sender": sender, "message": text}, client=client)
    assert response.status_code == 200, response.text
    return reply_text(response.json())




def mails_to(smtp, address: str) -> int:
    with smtp.lock:
        return sum(address in m.recipients for m in smtp.messages)


def tracker_texts(stack: Stack, conversation_id: str):
    with sqlite3.connect(stack.workdir / "tracker.db") as db:
        rows = db.execute("select data from events where sender_id = ? and type_name = 'user'",
                          (conversation_id,)).fetchall()
    return [json.loads(r[0]).get("text") for r in rows]


def imago_db(stack: Stack, query: str, *params):
    with sqlite3.connect(stack.workdir / "imago.db") as db:
        return db.execute(query, params).fetchall()


def widget(stack: Stack, session_id=None) -> WidgetClient:
    return WidgetClient(stack.url).connect(session_id)


def file_export_over_widget(client: WidgetClient, smtp, address: str) -> str:
    client.say("I want a copy of my data", "email address")
    client.say(address, "6-digit code")
    client.say(code_from(smtp, address), "Shall I file it?")
    done = client.say("yes", "Reference")
    return re.search(r"\*\*(\S+)\*\*", done.split("Reference")[1]).group(1)


# -- 1. borrowing a conversation --------------------------------------------------

def test_nobody_can_borrow_a_verified_widget_conversation(stack, smtp):
    alice, mallory = widget(stack), widget(stack)
    try:
        address = f"alice.{uuid.uuid4().hex[:6]}@example.org"
        reference = file_export_over_widget(alice, smtp, address)
        token = alice.session_id
        public = token.split(".")[0]
        conversation = "web:" + public

        # A second socket names Alice's session in its messages: dropped, nothing answered.
        # (Alice's own turn may still be sending its last bubble: let it finish first.)
        alice.settle()
        before_alice, before_mallory = len(alice.replies), len(mallory.replies)
        mallory.emit_message("what's the status of my request?", session_id=token)
        mallory.emit_message("what's the status of my request?", session_id=conversation)
        time.sleep(3)  # a dropped message has no event to wait for
        assert len(mallory.replies) == before_mallory and len(alice.replies) == before_alice
        assert "what's the status of my request?" not in tracker_texts(stack, conversation)
        log = (stack.workdir / "rasa.log").read_text(errors="replace")
        assert "socket.io message dropped" in log and token not in log and public not in log

        # Asking for her session by its public id, or with a forged signature, gets a fresh one.
        for claim in (public, conversation, f"{public}.{'A' * 43}"):
            mallory.request_session(claim)
            assert mallory.session_id != token and mallory.session_id.split(".")[0] != public
        status = mallory.say("what's the status of my request?", "email")
        assert reference not in status

        # A REST attacker naming her conversation lands in its own `rest:` conversation.
        for sender in (token, public, conversation):
            reply = say(stack, sender, "what's the status of my request?")
            assert reference not in reply and "email" in reply
        assert len(tracker_texts(stack, "rest:" + conversation)) == 1
    finally:
        alice.close()
        mallory.close()


def test_rest_needs_the_token(stack):
    body = {"sender": f"x-{uuid.uuid4().hex}", "message": "hello"}
    assert rest(stack, body, token=None).status_code == 401
    assert rest(stack, body, token="wrong-token").status_code == 403
    assert rest(stack, body).status_code == 200


def test_production_credentials_do_not_open_rest_without_a_token():
    text = (ROOT / "deploy" / "credentials.production.yml").read_text()
    active = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert not any(line.startswith(("rest:", "extensions.channels.rest")) for line in active)


# -- 3. the action server ---------------------------------------------------------

def test_action_server_refuses_calls_without_the_token(stack):
    forged = {"next_action": "action_show_status", "sender_id": "web:victim", "version": "3.6.21",
              "tracker": {"sender_id": "web:victim", "slots": {}, "events": [], "latest_message": {}},
              "domain": {}}
    base = f"http://127.0.0.1:{stack.actions_port}"
    assert requests.post(f"{base}/webhook", json=forged, timeout=10).status_code == 401
    assert requests.post(f"{base}/webhook?token=wrong", json=forged, timeout=10).status_code == 401
    assert requests.get(f"{base}/actions", timeout=10).status_code == 401
    assert requests.get(f"{base}/health", timeout=10).ok
    assert requests.get(f"{base}/actions?token={ACTION_SERVER_TOKEN}", timeout=10).ok


def listening_addresses(port: int):
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_action_server_listens_on_loopback_only(stack):
    assert listening_addresses(stack.actions_port) == {"0100007F"}  # 127.0.0.1


def test_action_server_errors_echo_nothing(stack):
    # A tracker the SDK cannot read: rasa-sdk's own handler would answer 500 with this body.
    body = {"next_action": "action_show_status", "sender_id": "c", "version": "3.6.21", "domain": {},
            "tracker": [{"event": "user", "text": "my code 482913"}]}
    response = requests.post(f"http://127.0.0.1:{stack.actions_port}/webhook?token={ACTION_SERVER_TOKEN}",
                             json=body, timeout=30)
    assert response.status_code == 500 and "482913" not in response.text and "request_body" not in response.text
    assert "482913" not in (stack.workdir / "actions.log").read_text(errors="replace")


# -- 8. codes kept out of the Rasa server's log when the code turn fails -------------

def test_code_turn_failure_keeps_the_code_out_of_the_logs(stack, smtp):
    sender, address = f"v-{uuid.uuid4().hex}", f"logs.{uuid.uuid4().hex[:6]}@example.org"
    say(stack, sender, "I want a copy of my data", client="192.0.2.80")
    assert "6-digit code" in say(stack, sender, address, client="192.0.2.80")
    code = code_from(smtp, address)
    with sqlite3.connect(stack.workdir / "imago.db") as db:  # the action fails on the code turn
        db.execute("alter table one_time_codes rename to one_time_codes_hidden")
    try:
        say(stack, sender, f"the code is {code}")
    finally:
        with sqlite3.connect(stack.workdir / "imago.db") as db:
            db.execute("alter table one_time_codes_hidden rename to one_time_codes")
    logs = stack.logs()
    assert "Encountered an exception" in logs  # the code turn did fail
    assert code not in logs


def test_code_typed_after_cancel_is_not_stored(stack, smtp):
    sender, address = f"v-{uuid.uuid4().hex}", f"cancel.{uuid.uuid4().hex[:6]}@example.org"
    say(stack, sender, "I want a copy of my data", client="192.0.2.81")
    say(stack, sender, address, client="192.0.2.81")
    code = code_from(smtp, address)
    say(stack, sender, "cancel")
    say(stack, sender, f"oh it was {code[:3]} {code[3:]}")
    texts = " ".join(t or "" for t in tracker_texts(stack, "rest:" + sender))
    assert "cancel" in texts and code not in texts and code[:3] + " " + code[3:] not in texts


# -- 4. and 5. parallel guesses and sends ---------------------------------------------

def test_parallel_wrong_guesses_kill_the_code_after_five(stack, smtp):
    sender, address = f"v-{uuid.uuid4().hex}", f"guess.{uuid.uuid4().hex[:6]}@example.org"
    say(stack, sender, "I want a copy of my data", client="192.0.2.82")
    say(stack, sender, address, client="192.0.2.82")
    code = code_from(smtp, address)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(lambda _: say(stack, sender, wrong), range(12)))
    assert "verified" not in say(stack, sender, code)
    rows = imago_db(stack, "select failed_attempts, invalidated_at, used_at from one_time_codes "
                           "where conversation_id = ?", "rest:" + sender)
    assert rows and rows[-1][0] == 5 and rows[-1][1] is not None and rows[-1][2] is None


def test_parallel_sends_to_one_address_mail_three_and_say_the_same(stack, smtp):
    victim = f"victim.{uuid.uuid4().hex[:6]}@example.org"
    local, domain = victim.split("@")
    senders = [f"flood-{n}-{uuid.uuid4().hex}" for n in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda s: say(stack, s, "I want a copy of my data", client=f"192.0.2.{senders.index(s)}"),
                      senders))
        replies = list(pool.map(
            lambda s: say(stack, s, f"{local}+{senders.index(s)}@{domain}", client=f"192.0.2.{senders.index(s)}"),
            senders))
    masked = [re.sub(r"\S+@\S+", "<address>", r) for r in replies]
    assert len(set(masked)) == 1 and "6-digit code" in masked[0]  # nothing about the others
    total = sum(mails_to(smtp, f"{local}+{n}@{domain}") for n in range(12))
    assert total == 3


def test_one_client_hits_its_own_cap(stack, smtp):
    client = "198.51.100.23"
    replies = []
    for n in range(11):
        sender = f"cap-{n}-{uuid.uuid4().hex}"
        say(stack, sender, "I want a copy of my data", client=client)
        replies.append(say(stack, sender, f"cap{n}.{uuid.uuid4().hex[:6]}@example.org", client=client))
    assert all("6-digit code" in r for r in replies[:10])
    assert "try again after" in replies[10] and "6-digit code" not in replies[10]


# -- 6. bad input -------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"", b"[]", b"null", b"true", b"{", b"\xff\xfe", b'"text"',
                                  b'{"sender": 1, "message": "hi"}', b'{"sender": "a", "message": 5}',
                                  b'{"sender": "a"}', b'{"message": "hi"}', b'{"sender": "", "message": "hi"}',
                                  b'{"sender": ["a"], "message": "hi"}'])
def test_malformed_rest_bodies_get_400(stack, body):
    response = rest(stack, body, raw=True)
    assert response.status_code == 400 and response.json()["error"]


def test_long_messages_are_answered_politely_and_not_stored(stack):
    sender = f"long-{uuid.uuid4().hex}"
    replies = rest(stack, {"sender": sender, "message": "please delete my data " * 200}).json()
    assert reply_text(replies) == TOO_LONG_REPLY
    assert tracker_texts(stack, "rest:" + sender) == []
    client = widget(stack)
    try:
        assert TOO_LONG_REPLY in client.say("x" * 2001, "too long")
    finally:
        client.close()


def test_nul_bytes_are_stripped(stack):
    sender = f"nul-{uuid.uuid4().hex}"
    assert rest(stack, {"sender": sender, "message": "how long\x00 do you keep my data"}).status_code == 200
    assert tracker_texts(stack, "rest:" + sender) == ["how long do you keep my data"]


# -- 7. staff console ---------------------------------------------------------------

def staff_api(stack, method, path, token, client=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"}
    if client:
        headers["X-Forwarded-For"] = client
    return requests.request(method, f"{stack.url}/webhooks/staff/api/escalations{path}", headers=headers,
                            timeout=30, **kwargs)


def test_audit_names_the_staff_member_whose_token_acted(stack):
    sender = f"h-{uuid.uuid4().hex}"
    say(stack, sender, "i want to talk to a real person")
    listed = staff_api(stack, "GET", "", MARIA).json()["escalations"]
    reference = next(e["reference"] for e in listed if e["conversation_id"] == "rest:" + sender)
    reply = staff_api(stack, "POST", f"/{reference}/reply", MARIA, json={"text": "Hello", "staff": "tom"})
    assert reply.ok
    actors = [r[0] for r in imago_db(stack, "select actor from audit_events where event = 'escalation_with_staff' "
                                            "and detail like ?", f"%{reference}%")]
    assert actors == ["staff:maria"]


def test_staff_console_answers_429_after_ten_failures_a_minute(stack):
    attacker = "203.0.113.50"
    statuses = [staff_api(stack, "GET", "", f"guess-{n}", client=attacker).status_code for n in range(11)]
    assert statuses[:10] == [403] * 10 and statuses[10] == 429
    assert staff_api(stack, "GET", "", MARIA, client=attacker).status_code == 429  # even a right token
    assert staff_api(stack, "GET", "", TOM, client="203.0.113.51").status_code == 200  # others unaffected


def test_rasa_refuses_to_start_with_a_short_staff_token(stack, tmp_path):
    env = stack.env()
    env.update(STAFF_TOKEN="too-short", STAFF_TOKENS="")
    result = subprocess.run(
        [str(VENV_BIN / "rasa"), "run", "--model", "no-model-needed.tar.gz", "--port", str(free_port()),
         "--credentials", str(ROOT / "credentials.yml"), "--endpoints", str(stack.workdir / "endpoints.yml")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode != 0 and "shorter than 32" in result.stdout + result.stderr
