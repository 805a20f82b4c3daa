"""End to end with the real Rasa and action servers and the real SMTP server: the
assistant keeps its own visitors' data the way the policy promises.

- the action server purges old conversations when it starts (no action needed);
- verify, chat, request deletion, staff complete it: nothing of the conversation
  remains in the tracker store;
- an access request mails the visitor a JSON copy of what the assistant holds;
- the servers' logs (INFO) never contain the address, the code or message text."""
from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from extensions.tracker_store import RedactingSQLTrackerStore
from tests.support.net import wait_until
from tests.test_conversation_rest import code_from
from tests.support.stack import ROOT, Stack, reply_text

pytestmark = pytest.mark.e2e

QUESTION = "how long do you keep my call history"


async def seed(path, sender: str, days_ago: int) -> None:
    at = (datetime.now(timezone.utc) - timedelta(days=days_ago)).timestamp()
    store = RedactingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))
    await store.save(DialogueStateTracker.from_events(sender, [
        UserUttered("an old question", timestamp=at), BotUttered("an old answer", timestamp=at + 1)]))
    store.engine.dispose()


def senders(stack: Stack):
    with sqlite3.connect(stack.workdir / "tracker.db") as db:
        return {row[0] for row in db.execute("select distinct sender_id from events")}


@pytest.fixture(scope="module")
def seeded_workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("retention-stack")
    asyncio.run(seed(workdir / "tracker.db", "seeded-old", days_ago=40))
    asyncio.run(seed(workdir / "tracker.db", "seeded-recent", days_ago=3))
    return workdir


@pytest.fixture(scope="module")
def stack(seeded_workdir, smtp_server):
    running = Stack(seeded_workdir, env_overrides=smtp_server.env()).start()
    yield running
    running.stop()




def verify(stack: Stack, smtp, sender: str, address: str, opening: str) -> str:
    stack.say(sender, opening)
    assert "sent a 6-digit code" in reply_text(stack.say(sender, f"sure, it's {address}"))
    code = code_from(smtp, address)
    summary = reply_text(stack.say(sender, code))
    assert "verified" in summary and "Shall I file it?" in summary, summary
    return code


def staff_cli(stack: Stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imago_core.cli.staff", *args], cwd=ROOT,
                          env={**stack.env(), "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)


def test_action_server_purges_old_conversations_when_it_starts(stack):
    # No message was sent: the purge started with the action server itself.
    wait_until(lambda: "seeded-old" not in senders(stack), timeout=30, what="the start-up purge")
    assert "seeded-recent" in senders(stack)


def test_completed_deletion_leaves_nothing_of_the_conversation(stack, smtp):
    sender, address = f"visitor-{uuid.uuid4().hex}", f"erase.{uuid.uuid4().hex[:6]}@example.org"
    other = f"bystander-{uuid.uuid4().hex}"
    stack.say(other, QUESTION)
    code = verify(stack, smtp, sender, address, "please delete everything you have on me")
    filed = reply_text(stack.say(sender, "yes"))
    reference = re.search(r"PRV-[2-9A-Z]{6}", filed).group(0)
    stack.say(sender, QUESTION)  # chat on after filing
    assert f"rest:{sender}" in senders(stack)  # the REST channel prefixes its conversation ids

    done = staff_cli(stack, "set-status", reference, "completed", "--by", "alice")
    assert done.returncode == 0, done.stderr

    assert f"rest:{sender}" not in senders(stack) and f"rest:{other}" in senders(stack)
    shown = staff_cli(stack, "show", reference)
    assert "status: completed" in shown.stdout and "assistant_data_erased" in shown.stdout
    _assert_logs_clean(stack, [address, code, "please delete everything you have on me", QUESTION])


def test_access_request_mails_a_json_copy_of_the_assistant_data(stack, smtp):
    sender, address = f"visitor-{uuid.uuid4().hex}", f"access.{uuid.uuid4().hex[:6]}@example.org"
    code = verify(stack, smtp, sender, address, "i want a copy of my data")
    answer = reply_text(stack.say(sender, "yes"))
    assert "emailed you a machine-readable copy (JSON)" in answer

    attachment = next(smtp.last_to(address).message.iter_attachments())
    export = json.loads(attachment.get_content())
    assert export["email"] == address and [c["conversation_id"] for c in export["conversations"]] == [f"rest:{sender}"]
    texts = [m["text"] for m in export["conversations"][0]["messages"]]
    assert "i want a copy of my data" in texts and "******" in texts and code not in json.dumps(export)
    assert [r["type"] for r in export["requests"]] == ["access"]
    _assert_logs_clean(stack, [address, code, "i want a copy of my data"])


def _assert_logs_clean(stack: Stack, secrets) -> None:
    time.sleep(0.5)  # let the servers flush their last lines
    logs = stack.logs()
    assert "INFO" in logs  # the servers do log at INFO: the check below means something
    for secret in secrets:
        assert secret not in logs, f"{secret!r} appears in the server logs"
