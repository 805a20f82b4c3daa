"""Property-based tests (Hypothesis) for the parsers that read what strangers send:
addresses, codes, client addresses and webhook bodies (issue 9, finding 6). Every
parser either returns a well-formed value or refuses cleanly; none raises."""
from __future__ import annotations

import ipaddress
import json
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from imago_core.identity.client_address import resolve_client, trusted_networks
from imago_core.identity.codes import extract_code, extract_email, limit_address
from extensions.channels.rest import BadRequest, parse_body
from extensions.channels.rocketchat import RocketChatInput, payloads

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.text())
def test_extract_email_returns_one_plausible_address_or_none(text):
    found = extract_email(text)
    if found is not None:
        local, domain = found.rsplit("@", 1)
        assert len(found) <= 254 and ".." not in found and domain == domain.lower()
        assert found.lower() in text.lower()


@FAST
@given(st.emails(), st.text(alphabet=" \t\n,;:", max_size=3), st.text(alphabet=" \t\n,;:", max_size=3))
def test_extract_email_finds_a_well_formed_address_in_text(address, before, after):
    local, domain = address.rsplit("@", 1)
    assume(len(address) <= 254 and re.fullmatch(r"[A-Za-z]{2,63}", domain.rsplit(".", 1)[-1]))
    assume(not local.startswith(".") and not local.endswith(".") and ".." not in address)
    assume(re.fullmatch(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}", local))
    assert extract_email(f"{before}my address is {address}{after}") == f"{local}@{domain.lower()}"


@FAST
@given(st.text())
def test_extract_code_returns_six_digits_or_none(text):
    code = extract_code(text)
    assert code is None or re.fullmatch(r"\d{6}", code)


@FAST
@given(st.from_regex(r"\A\d{6}\Z"), st.sampled_from(["{}", "{0}{1} {2}", "code: {0}-{1}", "it's {0} {1}!"]))
def test_extract_code_reads_a_typed_code(code, pattern):
    text = pattern.format(code[:3], code[3:], "") if pattern != "{}" else code
    assert extract_code(text) == code


@FAST
@given(st.emails())
def test_limit_address_folds_tags_and_case(address):
    local, domain = address.rsplit("@", 1)
    assume(not local.startswith("+"))  # "+x@" has no base to fold to; it is kept whole
    folded = limit_address(address)
    assert folded == limit_address(folded) == limit_address(f"{local.upper()}+tag@{domain}")
    assert "+" not in folded.split("@")[0] and folded == folded.lower()


@FAST
@given(st.one_of(st.none(), st.text(max_size=60), st.ip_addresses().map(str)),
       st.one_of(st.none(), st.text(max_size=80), st.lists(st.ip_addresses().map(str), max_size=4).map(", ".join)))
def test_resolve_client_yields_an_ip_address_or_none(peer, forwarded):
    found = resolve_client(peer, forwarded, trusted_networks("10.0.0.0/8,::1"))
    assert found is None or ipaddress.ip_address(found)


@FAST
@given(st.binary(max_size=300))
def test_rest_body_parser_refuses_cleanly_on_any_bytes(raw):
    try:
        sender, message, metadata = parse_body(raw)
    except BadRequest as exc:
        assert str(exc)
    else:
        assert isinstance(sender, str) and sender and isinstance(message, str) and isinstance(metadata, dict)


@FAST
@given(json_values)
def test_rest_body_parser_refuses_cleanly_on_any_json(value):
    try:
        parse_body(json.dumps(value).encode())
    except BadRequest:
        pass


@FAST
@given(st.text(min_size=1, max_size=128), st.text(max_size=500))
def test_rest_body_parser_keeps_valid_messages_without_nul(sender, message):
    assume(sender.replace("\x00", "").strip())
    parsed_sender, parsed_message, _ = parse_body(json.dumps({"sender": sender, "message": message}).encode())
    # Control and bidi characters go (issue 23, imago_core/identity/safe_text.py); the rest is kept as typed.
    unwanted = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
    assert not unwanted.search(parsed_message) and "\x00" not in parsed_sender
    assert parsed_message == unwanted.sub("", message)


CHANNEL = RocketChatInput("privacy-bot", "password", "http://127.0.0.1:9", webhook_token="secret",
                          livechat_token="secret")


@FAST
@given(st.dictionaries(st.sampled_from(["text", "user_name", "user_id", "channel_id", "message_id", "bot",
                                        "isEdited", "token", "tmid", "siteUrl"]), json_values, max_size=8))
def test_rocketchat_webhook_bodies_never_raise(payload):
    messages, reason = payloads.webhook_messages(payload, CHANNEL._is_bot)
    assert isinstance(messages, list) and isinstance(reason, str)
    assert all(isinstance(m.text, str) and isinstance(m.sender_id, str) for m in messages)


@pytest.fixture(scope="module")
def marker_database(tmp_path_factory):
    """The Omnichannel parser remembers closed rooms in the database: give it one."""
    from imago_core.storage import db as db_module
    from imago_core.settings import reset_settings_cache

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", f"sqlite:///{tmp_path_factory.mktemp('markers') / 'imago.db'}")
        reset_settings_cache()
        db_module.reset_engine()
        yield
        db_module.reset_engine()
    reset_settings_cache()


@FAST
@given(st.dictionaries(st.sampled_from(["_id", "type", "visitor", "messages", "agent", "departmentId", "open"]),
                       json_values, max_size=7))
def test_rocketchat_livechat_bodies_never_raise(marker_database, payload):
    import asyncio

    messages, reason = asyncio.run(payloads.livechat_messages(payload, CHANNEL._is_bot))
    assert isinstance(messages, list) and isinstance(reason, str)
