"""Locust profile: policy questions over the REST channel, closed loop (no think time).

Each simulated visitor is one conversation asking questions in turn. Run by
bench/load.py (`make bench`); by hand:
    bench/.venv-locust/bin/locust -f bench/locustfile_policy.py --headless -u 20 -r 20 -t 30s \
        --host http://127.0.0.1:5005
"""
import os
import random
import uuid

from locust import HttpUser, task

QUESTIONS = [
    "how long do you keep my data?", "do you sell my data?", "what cookies do you use?",
    "who do you share my data with?", "how do you protect my data?", "what data do you collect about me?",
    "do you transfer data outside the EU?", "what are my rights?", "is my data safe with you",
    "what happens to my data if i close my account",
]


def rest_headers(client=None):
    """`Authorization: Bearer $REST_TOKEN` when the servers were given one (bench/load.py
    sets it; a baseline without the hardened REST channel ignores it); `client`: the
    visitor's own address, forwarded as a load balancer would (X-Forwarded-For)."""
    headers = {}
    if os.environ.get("REST_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['REST_TOKEN']}"
    if client:
        headers["X-Forwarded-For"] = client
    return headers


# Each of these is answered by action_answer_policy with the benchmark's model
# (bench/load.py), on this tree and on the baseline alike: a question the model is
# unsure of goes to a fallback action that the baseline's action server may lack.


class PolicyVisitor(HttpUser):
    wait_time = staticmethod(lambda: 0)

    def on_start(self):
        self.sender = f"locust-policy-{uuid.uuid4().hex}"

    @task
    def ask(self):
        question = random.choice(QUESTIONS)
        with self.client.post("/webhooks/rest/webhook", json={"sender": self.sender, "message": question},
                              name="policy question", timeout=60, catch_response=True,
                              headers=rest_headers()) as response:
            if response.status_code != 200 or not response.json():
                response.failure(f"no answer ({response.status_code})")
