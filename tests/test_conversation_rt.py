"""Request Tracker for real: a full conversation over REST (question, address, the
code from the test SMTP server, confirm) leaves exactly one ticket in RT with the
right requestor, subject, due date and content; a status changed in RT shows in the
visitor's status lookup."""
from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.support.net import wait_until
from tests.support.rt_server import rt_server  # noqa: F401 - session fixture
from tests.support.stack import Stack, reply_text
from tests.test_conversation_rest import code_from
from tests.test_ticket_rt import search, ticket_text

pytestmark = [pytest.mark.rt, pytest.mark.e2e]


@pytest.fixture(scope="module")
def rt_stack(tmp_path_factory, smtp_server, rt_server):  # noqa: F811
    env = dict(smtp_server.env(), TICKET_BACKEND="rt", RT_URL=rt_server.url, RT_TOKEN=rt_server.token,
               RT_QUEUE="General", TICKET_TIMEOUT="20")
    running = Stack(tmp_path_factory.mktemp("rt-stack"), env_overrides=env).start()
    yield running
    running.stop()


def test_conversation_files_exactly_one_rt_ticket_and_reads_its_status(rt_stack, rt_server, smtp):  # noqa: F811
    sender, address = f"visitor-{uuid.uuid4().hex}", f"ada.{uuid.uuid4().hex[:6]}@example.org"
    rt_stack.say(sender, "my phone number in your records is wrong, i need it corrected")
    rt_stack.say(sender, address)
    replies = rt_stack.say(sender, code_from(smtp, address))
    assert "What is wrong" in reply_text(replies)
    rt_stack.say(sender, "my phone number is +44 20 7946 0000, not +44 20 7946 0999")
    done = reply_text(rt_stack.say(sender, "yes"))
    reference = re.search(r"PRV-[2-9A-Z]{6}", done).group(0)

    wait_until(lambda: len(search(rt_server, reference)) == 1, timeout=60, what="the ticket in RT")
    (item,) = search(rt_server, reference)
    ticket = rt_server.api("GET", f"ticket/{item['id']}").json()
    assert ticket["Subject"].startswith(f"[{reference}]") and "orrection" in ticket["Subject"]
    assert [r["id"] for r in ticket["Requestor"]] == [address]

    engine = create_engine(f"sqlite:///{rt_stack.workdir / 'imago.db'}")
    with engine.connect() as connection:
        due, state = connection.execute(text(
            "select due_at, delivery_state from privacy_requests where reference = :r"), {"r": reference}).one()
    engine.dispose()
    assert ticket["Due"] == f"{str(due)[:10]}T{str(due)[11:19]}Z" and state == "delivered"
    content = ticket_text(rt_server, item["id"])
    assert "+44 20 7946 0000" in content and address in content and sender in content

    # The privacy team works the ticket in RT; the visitor asks for the status.
    assert rt_server.api("PUT", f"ticket/{item['id']}", json={"Status": "open"}).ok
    replies = rt_stack.say(sender, "what's the status of my request?")
    assert f"**{reference}** correction: in progress" in reply_text(replies)  # read back from RT
    assert len(search(rt_server, reference)) == 1  # still exactly one
