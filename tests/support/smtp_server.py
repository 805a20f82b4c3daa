"""A real SMTP server for tests (aiosmtpd) that requires STARTTLS and AUTH.

The certificate is self-signed for 127.0.0.1 and made per test session with the
openssl command; clients trust it through `ca_file`.
"""
from __future__ import annotations

import email
import email.policy
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USERNAME, PASSWORD = "assistant", "s3cret-test-password"


def make_certificate(folder: Path) -> tuple:
    cert, key = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


@dataclass
class Received:
    sender: str
    recipients: List[str]
    message: email.message.EmailMessage


class _Handler:
    def __init__(self, server: "TestSmtpServer"):
        self.server = server

    async def handle_DATA(self, smtp_server, session, envelope):  # noqa: N802 (aiosmtpd API)
        if self.server.reject_next:
            self.server.reject_next -= 1
            return "451 4.3.0 Temporary failure (test)"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.server.lock:
            self.server.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
            self.server.tls_used.append(session.ssl is not None)
            self.server.authenticated.append(bool(session.authenticated))
        self.server.arrived.set()
        return "250 OK"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USERNAME.encode() \
        and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok)


@dataclass
class TestSmtpServer:
    folder: Path
    host: str = "127.0.0.1"
    port: int = 0
    messages: List[Received] = field(default_factory=list)
    tls_used: List[bool] = field(default_factory=list)
    authenticated: List[bool] = field(default_factory=list)
    reject_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Event = field(default_factory=threading.Event)
    controller: Optional[Controller] = None

    __test__ = False  # not a pytest test class

    def start(self) -> "TestSmtpServer":
        self.cert, key = make_certificate(self.folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert), str(key))
        from tests.support.net import free_port

        self.port = self.port or free_port()
        self.controller = Controller(
            _Handler(self), hostname=self.host, port=self.port,
            tls_context=context, require_starttls=True, auth_required=True,
            authenticator=_authenticator, auth_require_tls=True,
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()

    @property
    def ca_file(self) -> str:
        return str(self.cert)

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.tls_used.clear()
            self.authenticated.clear()
        self.arrived.clear()

    def last_to(self, address: str) -> Optional[Received]:
        with self.lock:
            for item in reversed(self.messages):
                if address in item.recipients:
                    return item
        return None

    def code_mails_to(self, address: str) -> list:
        """The one-time-code mails to an address: plain one-part mails (an access or export
        request also mails the visitor a JSON copy, as an attachment), not a filing's
        confirmation ("... is filed", imago_core/requests/confirmation.py)."""
        with self.lock:
            return [m for m in self.messages if address in m.recipients and not m.message.is_multipart()
                    and "is filed" not in str(m.message["Subject"])]

    def last_code_to(self, address: str) -> Optional[Received]:
        mails = self.code_mails_to(address)
        return mails[-1] if mails else None

    def env(self) -> dict:
        """Environment for the project's SMTP mailer to use this server."""
        return {
            "SMTP_HOST": self.host, "SMTP_PORT": str(self.port), "SMTP_USERNAME": USERNAME,
            "SMTP_PASSWORD": PASSWORD, "SMTP_STARTTLS": "true", "SMTP_SSL": "false",
            "SMTP_CA_FILE": self.ca_file, "SMTP_TIMEOUT": "5",
        }
