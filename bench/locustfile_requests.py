"""Locust profile: full verified requests over REST. Each iteration is one conversation:
ask for a copy of the data, give an address, read the code from the local SMTP sink
(bench/smtp_sink.py, its HTTP side given as SMTP_SINK_URL), give it, confirm. Each step
is reported separately; a step that gets the wrong answer is a failure.
"""
import os
import random
import time
import uuid

import requests
from locust import HttpUser, task

from locustfile_policy import rest_headers

SINK = os.environ.get("SMTP_SINK_URL", "http://127.0.0.1:8025")


def code_for(address: str, deadline_s: float = 30.0) -> str:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        answer = requests.get(f"{SINK}/code", params={"to": address}, timeout=5)
        if answer.status_code == 200:
            return answer.text
        time.sleep(0.2)
    raise RuntimeError("no code mailed")


class VerifiedRequester(HttpUser):
    wait_time = staticmethod(lambda: 0)

    def say(self, sender, text, step, expect, client=None):
        # Each visitor its own address (X-Forwarded-For, believed from loopback with
        # TRUSTED_PROXIES=127.0.0.1, set by bench/load.py), as behind a load balancer:
        # otherwise every visitor shares 127.0.0.1's per-client code limits.
        headers = rest_headers(client)
        with self.client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text},
                              name=step, timeout=60, catch_response=True, headers=headers) as response:
            said = " ".join(m.get("text") or "" for m in (response.json() if response.status_code == 200 else []))
            if expect not in said:
                response.failure(f"{step}: expected {expect!r}")
                return False
            return True

    @task
    def file_a_request(self):
        sender = f"locust-request-{uuid.uuid4().hex}"
        address = f"visitor.{uuid.uuid4().hex[:10]}@example.org"
        client = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
        if not self.say(sender, "I want a copy of all my data", "1 ask for a copy", "email address", client):
            return
        if not self.say(sender, address, "2 give the address", "6-digit code", client):
            return
        if not self.say(sender, code_for(address), "3 give the code", "Shall I file it?", client):
            return
        self.say(sender, "yes", "4 confirm", "PRV-", client)
