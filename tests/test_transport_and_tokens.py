"""Issue 23, finding 10: ticket backends only over https (http only to loopback, and
only when allowed), and a REST token of at least 32 characters or no start."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from imago_core.settings import ConfigError
from imago_core.delivery.tickets.factory import create_backend
from tests.support.net import free_port
from tests.support.stack import ROOT

RT = {"TICKET_BACKEND": "rt", "RT_TOKEN": "t0k"}
ZENDESK = {"TICKET_BACKEND": "zendesk", "ZENDESK_CLIENT_ID": "id", "ZENDESK_CLIENT_SECRET": "secret"}


@pytest.mark.parametrize("env, variable", [({**RT, "RT_URL": "http://rt.example.org/"}, "RT_URL"),
                                           ({**ZENDESK, "ZENDESK_URL": "http://acme.example.org"}, "ZENDESK_URL"),
                                           ({**RT, "RT_URL": "ftp://rt.example.org/"}, "RT_URL"),
                                           ({**RT, "RT_URL": "rt.example.org"}, "RT_URL")])
def test_ticket_backends_need_https(env, variable):
    with pytest.raises(ConfigError, match=f"{variable} must be an https:// URL"):
        create_backend(env)
    # Even with the loopback allowance: the host is not loopback.
    with pytest.raises(ConfigError, match=f"{variable} must be an https:// URL"):
        create_backend({**env, "TICKET_ALLOW_HTTP_LOOPBACK": "true"})


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/", "http://localhost:9000", "http://[::1]:8080"])
def test_http_to_loopback_only_when_explicitly_allowed(url):
    with pytest.raises(ConfigError, match="TICKET_ALLOW_HTTP_LOOPBACK"):
        create_backend({**RT, "RT_URL": url})
    assert create_backend({**RT, "RT_URL": url, "TICKET_ALLOW_HTTP_LOOPBACK": "true"}) is not None
    assert create_backend({**ZENDESK, "ZENDESK_URL": url, "TICKET_ALLOW_HTTP_LOOPBACK": "true"}) is not None


def test_https_backends_are_built():
    assert create_backend({**RT, "RT_URL": "https://rt.example.org/"}) is not None
    assert create_backend({**ZENDESK, "ZENDESK_SUBDOMAIN": "acme"}) is not None


def test_a_short_rest_token_is_refused():
    from extensions.channels.rest import HardenedRestInput

    with pytest.raises(ConfigError, match="REST_TOKEN must be at least 32 characters"):
        HardenedRestInput.from_credentials({"token": "short-token"})
    assert HardenedRestInput.from_credentials({"token": "r" * 32}).token == "r" * 32


def test_the_server_with_a_short_rest_token_does_not_start(tmp_path):
    """The channels are built when the server starts (Rasa calls from_credentials)."""
    env = dict(os.environ, IMAGO_DOTENV="off", REST_TOKEN="only-twenty-chars-xx", PYTHONWARNINGS="ignore",
               OTP_SECRET="channel-test-secret-0123456789abcdef",
               WIDGET_SESSION_SECRET="channel-test-widget-secret-0123456789abcdef",
               DATABASE_URL=f"sqlite:///{tmp_path / 'imago.db'}")
    result = subprocess.run([sys.executable, "-m", "tests.support.channel_server", str(free_port()),
                             str(tmp_path / "tracker.db")], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0
    assert "REST_TOKEN must be at least 32 characters" in result.stdout + result.stderr
    assert "only-twenty-chars-xx" not in result.stdout + result.stderr
