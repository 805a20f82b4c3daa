"""Mail through a real SMTP server (aiosmtpd) with STARTTLS and AUTH, and the outbox."""
from __future__ import annotations

import email
import email.policy
import socket
import ssl

import pytest

from imago_core.mail import MailError, OutboxMailer, SmtpMailer, mailer_from_settings
from imago_core.settings import reset_settings_cache
from tests.support.net import free_port
from tests.support.smtp_server import PASSWORD, USERNAME


def mailer_for(smtp, **overrides) -> SmtpMailer:
    options = dict(host=smtp.host, port=smtp.port, sender="Assistant <assistant@example.test>",
                   username=USERNAME, password=PASSWORD, starttls=True, timeout=5,
                   ssl_context=ssl.create_default_context(cafile=smtp.ca_file))
    options.update(overrides)
    return SmtpMailer(**options)


def test_sends_over_starttls_with_auth(smtp):
    mailer_for(smtp).send("jane@example.org", "Your code", "Your verification code is: 123456")
    received = smtp.last_to("jane@example.org")
    assert received is not None
    assert received.message["Subject"] == "Your code"
    assert "123456" in received.message.get_content()
    assert smtp.tls_used[-1] is True and smtp.authenticated[-1] is True


def test_wrong_password_is_a_mail_error(smtp):
    with pytest.raises(MailError):
        mailer_for(smtp, password="wrong").send("jane@example.org", "s", "b")
    assert smtp.last_to("jane@example.org") is None


def test_untrusted_certificate_is_refused(smtp):
    with pytest.raises(MailError):
        mailer_for(smtp, ssl_context=ssl.create_default_context()).send("jane@example.org", "s", "b")


def test_server_refusing_the_message_is_a_mail_error(smtp):
    smtp.reject_next = 1
    with pytest.raises(MailError):
        mailer_for(smtp).send("jane@example.org", "s", "b")


def test_nothing_listening_is_a_mail_error():
    with pytest.raises(MailError):
        SmtpMailer("127.0.0.1", free_port(), "a@example.test", starttls=False, timeout=2).send("x@example.org", "s", "b")


def test_silent_server_times_out():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts, never greets
    try:
        with pytest.raises(MailError):
            SmtpMailer("127.0.0.1", listener.getsockname()[1], "a@example.test", timeout=1).send("x@example.org", "s", "b")
    finally:
        listener.close()


def test_error_logs_carry_no_recipient(smtp, caplog):
    with pytest.raises(MailError):
        mailer_for(smtp, password="wrong").send("secret.person@example.org", "s", "b")
    assert "secret.person" not in caplog.text


def test_outbox_writes_eml_files_readably(tmp_path, caplog):
    caplog.set_level("INFO")
    OutboxMailer(tmp_path / "outbox", "a@example.test").send("jane@example.org", "Hello", "Code: 654321")
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert message["To"] == "jane@example.org" and "654321" in message.get_content()
    assert oct(files[0].stat().st_mode)[-3:] == "600"
    assert str(tmp_path / "outbox") in caplog.text and "654321" not in caplog.text


def test_settings_choose_outbox_without_smtp_host_and_smtp_with_it(isolated_env, monkeypatch, smtp):
    assert isinstance(mailer_from_settings(), OutboxMailer)
    for key, value in smtp.env().items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    mailer = mailer_from_settings()
    assert isinstance(mailer, SmtpMailer)
    mailer.send("env@example.org", "via settings", "body")
    assert smtp.last_to("env@example.org") is not None


def test_starttls_and_ssl_together_is_a_configuration_error():
    with pytest.raises(ValueError):
        SmtpMailer("h", 25, "a@example.test", starttls=True, use_ssl=True)
