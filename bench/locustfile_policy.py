"""Locust profile: policy questions over the REST channel, closed loop (no think time).

Each simulated visitor is one conversation asking questions in turn. Run by
bench/load.py (`make bench`); by hand:
    bench/.venv-locust/bin/locust -f bench/locustfile_policy.py --headless -u 20 -r 20 -t 30s \
        --host http://127.0.0.1:5005
"""
import random
import uuid

from locust import HttpUser, task

QUESTIONS = [
    "how long do you keep my data?", "do you sell my data?", "what cookies do you use?",
    "who do you share my data with?", "how do you protect my data?", "what data do you collect about me?",
    "do you transfer data outside the EU?", "can i see what you know about me", "is my data safe with you",
    "what happens to my data if i close my account",
]


class PolicyVisitor(HttpUser):
    wait_time = staticmethod(lambda: 0)

    def on_start(self):
        self.sender = f"locust-policy-{uuid.uuid4().hex}"

    @task
    def ask(self):
        question = random.choice(QUESTIONS)
        with self.client.post("/webhooks/rest/webhook", json={"sender": self.sender, "message": question},
                              name="policy question", timeout=60, catch_response=True) as response:
            if response.status_code != 200 or not response.json():
                response.failure(f"no answer ({response.status_code})")
