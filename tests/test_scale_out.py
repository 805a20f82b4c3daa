"""Scale-out as deployed: two Rasa replicas sharing a PostgreSQL tracker store and a
Redis lock store, one action server on PostgreSQL. A conversation may hop between
replicas (no sticky sessions on REST) and still verifies once and files once."""
from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.support.services import postgres, redis_server  # noqa: F401 - session fixtures
from tests.support.stack import Stack, reply_text
from tests.support.trackers import stored_event_text
from tests.test_conversation_rest import code_from

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, postgres, redis_server, smtp_server):  # noqa: F811
    project_db = postgres.create_database(f"imago_{uuid.uuid4().hex[:8]}")
    tracker_db = f"tracker_{uuid.uuid4().hex[:8]}"
    postgres.create_database(tracker_db)
    env = dict(smtp_server.env(), DATABASE_URL=project_db)
    tracker_yaml = ("tracker_store:\n  type: extensions.tracker_store.RedactingSQLTrackerStore\n"
                    f"  dialect: postgresql\n  url: 127.0.0.1\n  port: {postgres.port}\n"
                    f"  db: {tracker_db}\n  username: {postgres.user}\n")
    lock_yaml = f"lock_store:\n  type: redis\n  url: 127.0.0.1\n  port: {redis_server.port}\n  db: 1\n  key_prefix: imago\n"
    first = Stack(tmp_path_factory.mktemp("replica-a"), env_overrides=env,
                  tracker_store_yaml=tracker_yaml, lock_store_yaml=lock_yaml).start()
    second = Stack(tmp_path_factory.mktemp("replica-b"), env_overrides=env, tracker_store_yaml=tracker_yaml,
                   lock_store_yaml=lock_yaml, actions_url=first.actions_webhook)
    try:
        second.start()
    except Exception:
        first.stop()
        raise
    yield first, second, project_db, tracker_db
    second.stop()
    first.stop()


def test_conversation_hopping_between_replicas(replicas, smtp, postgres):  # noqa: F811
    a, b, project_db, tracker_db = replicas
    sender, address = f"visitor-{uuid.uuid4().hex}", f"kim.{uuid.uuid4().hex[:6]}@example.org"
    assert "email address" in reply_text(a.say(sender, "I want a copy of all my data"))
    assert "sent a 6-digit code" in reply_text(b.say(sender, address))
    code = code_from(smtp, address)
    assert "Shall I file it?" in reply_text(a.say(sender, code))
    assert sum(address in m.recipients for m in smtp.messages) == 1  # one code mailed, by one replica
    done = reply_text(b.say(sender, "yes"))
    reference = re.search(r"PRV-[2-9A-Z]{6}", done).group(0)

    engine = create_engine(project_db)
    with engine.connect() as connection:
        rows = connection.execute(text("select reference, email from privacy_requests where conversation_id = :c"),
                                  {"c": "rest:" + sender}).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(reference, address)]

    tracker = create_engine(f"postgresql+psycopg2://{postgres.user}@127.0.0.1:{postgres.port}/{tracker_db}")
    with tracker.connect() as connection:
        stored = stored_event_text(r[0] for r in connection.execute(
            text("select data from events where sender_id = :s"), {"s": "rest:" + sender}))
    tracker.dispose()
    assert code not in stored and "******" in stored
