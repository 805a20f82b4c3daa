"""The privacy team's request desk in headless Chromium against the REAL assistant: Rasa
server with the trained model (the desk lives in its staff channel), the action server,
Request Tracker 5 for the tickets, and the test SMTP server for the visitor's mails.

Done when (issue 25): a request filed in the chat appears on the desk with the engine's
due date, and RT's Due carries it; extending it moves the date, in RT too, and mails the
visitor; completing it is what the visitor's next "status?" reports. Plus sign-in,
sorting, filtering, a refusal, and axe-core on both pages, signed in with data."""
from __future__ import annotations

import os
import re
import sqlite3
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import List

import pytest
from playwright.sync_api import expect

from tests.browser.test_e2e_real_stack import REPLY_TIMEOUT, bot_reply, code_from_mail
from tests.support.net import wait_until
from tests.support.rt_server import rt_server  # noqa: F401 - session fixture
from tests.support.stack import Stack
from tests.test_ticket_rt import search

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.rt]

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
MARIA = "maria-desk-token-0123456789abcdefghijkl"
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
REFERENCE = re.compile(r"PRV-[2-9A-Z]{6}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, smtp_server, web_url, rt_server):  # noqa: F811
    env = dict(smtp_server.env(), STAFF_TOKENS=f"maria:{MARIA}", POLICY_URL=f"{web_url}/policy",
               TICKET_BACKEND="rt", RT_URL=rt_server.url, RT_TOKEN=rt_server.token, RT_QUEUE="General",
               TICKET_TIMEOUT="20")
    running = Stack(tmp_path_factory.mktemp("desk-e2e"), env_overrides=env).start()
    yield running
    running.stop()


@pytest.fixture
def rasa_url(stack) -> str:
    return stack.url


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():  # web/package.json's devDependency; scripts/build-web.sh installs it
        import subprocess

        subprocess.run(["bash", str(ROOT / "scripts" / "build-web.sh")], check=True, timeout=300)
    return AXE.read_text(encoding="utf-8")


def seed(stack: Stack, monkeypatch) -> List[str]:
    """Requests recorded straight into the stack's database (local backend: no tickets):
    one overdue, one due soon, one fresh from a Californian, one completed."""
    from imago_core.requests.desk_actions import act
    from imago_core.requests.records import record_request
    from imago_core.settings import reset_settings_cache
    from imago_core.storage import db
    from imago_core.storage.models import RequestType

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{stack.workdir / 'imago.db'}")
    monkeypatch.setenv("MAIL_OUTBOX", str(stack.workdir / "seed-outbox"))  # seeded visitors' mails stay local
    monkeypatch.setenv("TRACKER_STORE_URL", f"sqlite:///{stack.workdir / 'tracker.db'}")
    reset_settings_cache()
    db.reset_engine()
    now = datetime.now(timezone.utc)
    tag = uuid.uuid4().hex[:6]
    refs = [
        record_request(f"late.{tag}@example.org", RequestType.ACCESS, None, "rest", f"seed-{tag}-1",
                       now=now - timedelta(days=40)).reference,
        record_request(f"soon.{tag}@example.org", RequestType.DELETION, None, "rest", f"seed-{tag}-2",
                       now=now - timedelta(days=27)).reference,
        record_request(f"cal.{tag}@example.org", RequestType.CORRECTION, "my surname", "rest", f"seed-{tag}-3",
                       now=now, volunteered={"ccpa"}).reference,
        record_request(f"done.{tag}@example.org", RequestType.EXPORT, None, "rest", f"seed-{tag}-4",
                       now=now - timedelta(days=12)).reference,
    ]
    act(refs[3], "complete", "staff:maria")
    act(refs[2], "assign", "staff:maria", {"assignee": "maria"})
    db.reset_engine()
    reset_settings_cache()
    seed.tag = tag
    return refs


class Desk:
    def __init__(self, browser, rasa_url: str) -> None:
        self.url = rasa_url
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.errors: List[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def queue(self, query: str = "") -> "Desk":
        self.page.goto(f"{self.url}/webhooks/staff/requests{query}")
        return self

    def sign_in(self, token: str = MARIA) -> None:
        self.page.get_by_label("Staff token").fill(token)
        self.page.get_by_role("button", name="Use token").click()

    def rows(self):
        return self.page.locator("#queue tbody tr")

    def references(self) -> List[str]:
        return [r.get_attribute("data-reference") for r in self.rows().all()]

    def axe(self, source: str) -> list:
        self.page.add_script_tag(content=source)
        result = self.page.evaluate("(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_22_AA)
        return [(v["id"], [n["target"] for n in v["nodes"]]) for v in result["violations"]]

    def act(self, form: str, **fields) -> None:
        """Fills an action's form, submits it and confirms in the dialog."""
        scope = self.page.locator(f"form[data-action='{form}']")
        for label, value in fields.items():
            control = scope.get_by_label(label)
            if control.evaluate("e => e.tagName") == "SELECT":
                control.select_option(value)
            else:
                control.fill(value)
        scope.get_by_role("button").click()
        dialog = self.page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Confirm").click()
        expect(self.page.locator("#notice")).to_contain_text(f"{form}: done")


@pytest.fixture
def desk(browser, rasa_url):
    desks: List[Desk] = []

    def make() -> Desk:
        d = Desk(browser, rasa_url)
        desks.append(d)
        return d

    yield make
    for d in desks:
        d.context.close()


def mails_to(smtp, address: str):
    return [m.message for m in smtp.messages if address in m.recipients]


def db_row(stack: Stack, reference: str):
    with sqlite3.connect(stack.workdir / "imago.db") as connection:
        connection.row_factory = sqlite3.Row
        return connection.execute("select * from privacy_requests where reference = ?", (reference,)).fetchone()


# ---------------------------------------------------------------- tests


def test_sign_in_sort_filter_and_axe_on_the_queue(desk, stack, monkeypatch, axe_source):
    refs = seed(stack, monkeypatch)
    page = desk().queue()
    page.sign_in("not-the-token-but-long-enough-0123456789")
    expect(page.page.locator("#error")).to_contain_text("refused")
    expect(page.page.locator("#signed-in")).to_have_text("")
    expect(page.rows()).to_have_count(0)

    page.sign_in()
    expect(page.rows().first).to_be_visible()
    expect(page.page.locator("#error")).to_have_text("")
    expect(page.page.locator("#signed-in")).to_have_text("Signed in as maria")
    order = page.references()
    assert [r for r in order if r in refs] == refs  # overdue, due soon, fresh; closed last
    late = page.page.locator(f"tr[data-reference='{refs[0]}']")
    expect(late).to_contain_text("days overdue")
    expect(page.page.locator(f"tr[data-reference='{refs[1]}']")).to_contain_text("left (due soon)")
    expect(page.page.locator(f"tr[data-reference='{refs[3]}']")).to_contain_text("closed")
    expect(page.page.locator("#counter-overdue .value")).not_to_have_text("0")
    assert page.axe(axe_source) == []

    # Sorting: by reference, then the other way; aria-sort says which.
    header = page.page.locator("th[data-key='reference']")
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(page.page.locator("th[data-key='due']")).to_have_attribute("aria-sort", "none")
    open_refs = [r for r in page.references() if r != refs[3] and r in refs]
    assert open_refs == sorted(open_refs)
    header.get_by_role("button").press("Enter")  # the keyboard works the same
    expect(header).to_have_attribute("aria-sort", "descending")
    open_refs = [r for r in page.references() if r in refs[:3]]
    assert open_refs == sorted(open_refs, reverse=True)
    assert "sort=reference" in page.page.url and "dir=descending" in page.page.url

    # Filtering, kept in the URL: a reload (or a shared link) shows the same rows.
    def choose(label: str, value: str, expect_in_url: str) -> None:
        """Picks a filter and waits for the queue the API answers for it (not the old rows)."""
        with page.page.expect_response(lambda r: "/api/requests" in r.url and expect_in_url in r.url):
            page.page.get_by_label(label).select_option(value)

    choose("Regime", "ccpa", "regime=ccpa")
    expect(page.rows()).to_have_count(1)
    assert page.references() == [refs[2]] and "regime=ccpa" in page.page.url
    page.page.reload()
    expect(page.page.get_by_label("Regime")).to_have_value("ccpa")
    expect(page.rows()).to_have_count(1)
    choose("Regime", "", "/api/requests")
    expect(page.page.locator(f"tr[data-reference='{refs[0]}']")).to_be_visible()
    choose("Assignee", "maria", "assignee=maria")
    expect(page.rows()).to_have_count(1)
    expect(page.page.locator(f"tr[data-reference='{refs[2]}']")).to_be_visible()
    assert "assignee=maria" in page.page.url
    choose("Assignee", "", "/api/requests")
    expect(page.page.locator(f"tr[data-reference='{refs[0]}']")).to_be_visible()
    choose("Type", "deletion", "type=deletion")
    expect(page.page.locator(f"tr[data-reference='{refs[1]}']")).to_be_visible()
    expect(page.page.locator(f"tr[data-reference='{refs[0]}']")).to_have_count(0)
    assert "type=deletion" in page.page.url and "assignee" not in page.page.url

    with page.page.expect_download() as download:
        page.page.get_by_role("button", name="Export CSV").click()
    text = Path(download.value.path()).read_text()
    assert text.startswith("reference,type,status,received,due,days_left") and refs[1] in text and "@" not in text
    assert page.errors == []

    if os.environ.get("IMAGO_WRITE_SCREENSHOTS") == "1":  # the README's picture of the queue
        page.queue()  # the default order; the token is still in this tab
        expect(page.page.locator(f"tr[data-reference='{refs[3]}']")).to_be_visible()
        page.page.evaluate("document.activeElement.blur()")
        page.page.screenshot(path=str(ROOT / "docs" / "desk-queue.png"), full_page=True)


def test_refusal_reaches_the_visitor_with_the_complaint_route(desk, stack, monkeypatch, axe_source, smtp):
    refs = seed(stack, monkeypatch)
    page = desk()
    page.page.goto(f"{stack.url}/webhooks/staff/requests/{refs[1]}")
    page.sign_in()
    expect(page.page.get_by_role("heading", name=f"Request {refs[1]}")).to_be_visible()
    expect(page.page.locator("#address")).to_contain_text("s***@example.org")
    expect(page.page.locator("#history li").first).to_contain_text("received by assistant")
    assert page.axe(axe_source) == []

    page.page.get_by_role("button", name="Reveal address").click()
    expect(page.page.locator("#address")).to_contain_text(re.compile(r"soon\.[0-9a-f]{6}@example\.org"))
    expect(page.page.locator("#audit")).to_contain_text("address_revealed")

    page.act("refuse", **{"Refuse: reason code": "identity_not_proven",
                          "The reasons, in words (the visitor is told them, and they are logged)":
                              "The code was sent to an address we could not match to your account."})
    expect(page.page.locator("#summary-status")).to_have_text("rejected")
    expect(page.page.locator("#audit")).to_contain_text("refusal_logged")
    page.act("note", **{"Note for the audit trail": "Called the visitor back."})
    expect(page.page.locator("#audit")).to_contain_text("Called the visitor back.")
    # The desk runs in the Rasa server, which mails through the test SMTP server.
    address = f"soon.{seed.tag}@example.org"
    wait_until(lambda: mails_to(smtp, address), timeout=30, what="the refusal mail")
    (mail,) = mails_to(smtp, address)
    body = mail.get_content()
    assert refs[1] in mail["Subject"] and "could not match to your account" in body
    assert "supervisory authority" in body and "PCPD" in body
    assert page.errors == []


def test_chat_request_on_the_desk_extended_in_rt_and_mailed_then_completed(chat, desk, stack, rt_server, smtp):  # noqa: F811
    from imago_core.requests.clock_store import due_day, due_moment
    from imago_core.requests.clocks import Clock

    # The visitor files an access request in the widget.
    chat.open_chat()
    address = f"ada.{uuid.uuid4().hex[:8]}@example.org"
    chat.send("I want a copy of my personal data")
    bot_reply(chat, "email address")
    chat.send(address)
    bot_reply(chat, "sent a 6-digit code")
    chat.send(code_from_mail(smtp, address))
    bot_reply(chat, "Shall I file it?")
    chat.page.get_by_role("group", name="Suggested replies").get_by_role("button", name="Yes, file it").click()
    reference = REFERENCE.search(bot_reply(chat, REFERENCE).inner_text()).group(0)
    bot_reply(chat, "Keep the reference")

    # Its due date is the engine's earliest (GDPR's month under the default gdpr,pdpo) ...
    row = db_row(stack, reference)
    received = datetime.fromisoformat(row["received_at"]).replace(tzinfo=timezone.utc)
    expected = Clock.open("access", ("gdpr", "pdpo"), received).due
    assert row["regimes"] == "gdpr,pdpo" and due_day(datetime.fromisoformat(row["due_at"]).replace(tzinfo=timezone.utc)) == expected
    # ... and RT's Due carries it.
    wait_until(lambda: len(search(rt_server, reference)) == 1, timeout=60, what="the ticket in RT")
    ticket_id = search(rt_server, reference)[0]["id"]
    rt_due = lambda: rt_server.api("GET", f"ticket/{ticket_id}").json()["Due"]  # noqa: E731
    assert rt_due() == due_moment(expected).strftime("%Y-%m-%dT%H:%M:%SZ")

    page = desk().queue()
    page.sign_in()
    line = page.page.locator(f"tr[data-reference='{reference}']")
    expect(line).to_be_visible()
    expect(line.locator("td[data-due]")).to_have_attribute("data-due", expected.isoformat())
    line.get_by_role("link", name=reference).click()
    expect(page.page.get_by_role("heading", name=f"Request {reference}")).to_be_visible()
    expect(page.page.locator("#transcript .line.visitor").filter(has_text="copy of my personal data")).to_be_visible()
    expect(page.page.locator("#address")).not_to_contain_text(address)

    # Extending moves the date, on the desk and in RT, and mails the visitor the reason.
    reason = "Your data sits in three systems and one is archived."
    page.act("extend", **{"Extend the deadline: the reason the visitor is told": reason})
    new_due = Clock.from_json(db_row(stack, reference)["clock"]).due
    assert new_due > expected + timedelta(days=55)
    expect(page.page.locator("#summary-due")).to_contain_text(f"{new_due.day} ")
    wait_until(lambda: rt_due() == due_moment(new_due).strftime("%Y-%m-%dT%H:%M:%SZ"), timeout=30,
               what="RT's Due moved")
    wait_until(lambda: any(reference in m["Subject"] and "more time" in m["Subject"] for m in mails_to(smtp, address)),
               timeout=30, what="the extension mail")
    mail = [m for m in mails_to(smtp, address) if "more time" in m["Subject"]][-1]
    assert reason in mail.get_content() and str(new_due.year) in mail.get_content()

    # Completing it is what the visitor's next status question reports (and RT agrees).
    page.act("complete")
    expect(page.page.locator("#summary-status")).to_have_text("completed")
    wait_until(lambda: rt_server.api("GET", f"ticket/{ticket_id}").json()["Status"] == "resolved", timeout=30,
               what="RT's status resolved")
    chat.send("what's the status of my request?")
    status = bot_reply(chat, reference)
    expect(status).to_contain_text(re.compile("access: completed", re.I))
    assert db_row(stack, reference)["status"] == "completed"
    assert page.errors == [] and chat.console_errors == []


def test_json_api_with_bearer_tokens(stack, monkeypatch):
    import requests

    refs = seed(stack, monkeypatch)
    api = f"{stack.url}/webhooks/staff/api/requests"
    auth = {"Authorization": f"Bearer {MARIA}"}
    assert requests.get(api, timeout=10).status_code == 401
    assert requests.get(api, headers={"Authorization": "Bearer " + "x" * 40}, timeout=10).status_code == 403
    listing = requests.get(api, headers=auth, timeout=10).json()
    item = next(i for i in listing["requests"] if i["reference"] == refs[2])
    assert {"reference", "type", "status", "received", "due", "regimes", "language", "assignee"} <= set(item)
    assert item["regimes"] == ["gdpr", "pdpo", "ccpa"] and item["assignee"] == "maria"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", item["due"]) and listing["staff"] == "maria"
    filtered = requests.get(api, params={"type": "correction", "regime": "ccpa"}, headers=auth, timeout=10).json()
    assert refs[2] in [i["reference"] for i in filtered["requests"]]  # earlier tests seeded the same module stack
    assert all(i["type"] == "correction" and "ccpa" in i["regimes"] for i in filtered["requests"])
    assert refs[1] not in [i["reference"] for i in filtered["requests"]]
    csv = requests.get(api, params={"format": "csv"}, headers=auth, timeout=10)
    assert csv.headers["Content-Type"].startswith("text/csv") and refs[0] in csv.text

    one = f"{api}/{refs[2]}"
    assert requests.get(f"{api}/PRV-ZZZZZZ", headers=auth, timeout=10).status_code == 404
    refused = requests.post(f"{one}/extend", json={"reason": ""}, headers=auth, timeout=10)
    assert refused.status_code == 409 and "reason" in refused.json()["error"]
    assert requests.post(f"{one}/teleport", json={}, headers=auth, timeout=10).status_code == 404
    paused = requests.post(f"{one}/pause", json={"question": "Which surname, the old or the new?"}, headers=auth,
                           timeout=10).json()
    assert paused["status"] == "waiting for you"
    assert requests.post(f"{one}/resume", json={}, headers=auth, timeout=10).json()["status"] == "in progress"
    extended = requests.post(f"{one}/extend", json={"reason": "Two systems."}, headers=auth, timeout=10).json()
    assert extended["due"] > item["due"]
    again = requests.post(f"{one}/extend", json={"reason": "Again."}, headers=auth, timeout=10)
    assert again.status_code == 409 and "extended" in again.json()["error"]
    assert requests.post(f"{one}/note", json={"text": "checked the CRM"}, headers=auth, timeout=10).ok
    assert requests.post(f"{one}/assign", json={"assignee": ""}, headers=auth, timeout=10).json()["assignee"] is None
    detail = requests.get(one, headers=auth, timeout=10).json()
    events = [e["event"] for e in detail["audit"]]
    assert ["request_paused", "request_resumed", "request_extended", "request_note", "request_assigned"] == \
        [e for e in events if e.startswith("request_") and e != "request_recorded"][-5:]
    assert all(e["actor"] == "staff:maria" for e in detail["audit"] if e["event"].startswith("request_p"))
    assert f"cal.{seed.tag}@" not in json_dump(detail)  # the address only through /reveal


def json_dump(value) -> str:
    import json

    return json.dumps({k: v for k, v in value.items() if k != "transcript"})
