"""The static web server: policy page, widget files, nothing outside its folders."""
from __future__ import annotations

import threading

import pytest
import requests

from extensions.channels.socketio import acceptable_session_id, conversation_id, new_session_id
from web.server import make_server
from tests.support.net import free_port


@pytest.fixture(scope="module")
def web():
    port = free_port()
    server = make_server("127.0.0.1", port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


def test_policy_page_is_served_with_topic_anchors(web):
    page = requests.get(f"{web}/policy", timeout=5)
    assert page.ok and page.headers["Content-Type"].startswith("text/html")
    assert 'id="retention"' in page.text and 'id="data-sale"' in page.text
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_demo_page_embeds_the_widget_with_one_script_tag(web):
    page = requests.get(f"{web}/", timeout=5).text
    assert page.count("imago-chat.js") == 1
    import re

    external = [u for u in re.findall(r'(?:src|href)="([^"]+)"', page)
                if re.match(r"(https?:)?//", u) and not re.match(r"https?://(localhost|127\.0\.0\.1)", u)]
    assert external == [], f"assets from other hosts: {external}"


@pytest.mark.parametrize("path", ["/../pyproject.toml", "/widget/../../pyproject.toml", "/%2e%2e/pyproject.toml",
                                  "/widget/..%2f..%2fpyproject.toml", "/nope.html"])
def test_nothing_outside_the_static_folders(web, path):
    response = requests.get(web + path, timeout=5)
    assert response.status_code == 404 and "build-system" not in response.text


def test_socketio_session_ids_must_be_issued_by_the_server(isolated_env):
    issued = new_session_id()
    public, stamp, signature = issued.split(".")  # dated: tests/test_widget_sessions.py
    assert acceptable_session_id(issued) and conversation_id(issued) == "web:" + public
    forged = f"{'0' * 32}.{stamp}.{signature}"
    for value in (forged, public, issued + "\n", issued + "x", "a" * 20, "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                  None, 123, "../../etc"):
        assert not acceptable_session_id(value), value
