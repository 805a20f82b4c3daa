"""Outgoing mail: SMTP through the standard library, or a local outbox folder.

With no SMTP_HOST (the embedded default) each message is written as an .eml file
into MAIL_OUTBOX, and the log says where. Nothing here logs a recipient or a body.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Optional, Sequence, Tuple

# (file name, content, MIME type such as "application/json")
Attachment = Tuple[str, bytes, str]

from imago_core.settings import Settings, get_settings

logger = logging.getLogger(__name__)


class MailError(Exception):
    """The message could not be handed to the mail system."""


class Mailer:
    def send(self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()) -> None:
        raise NotImplementedError


def build_message(sender: str, to: str, subject: str, body: str,
                  attachments: Sequence[Attachment] = ()) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="imago-privacy-assistant")
    message.set_content(body)
    for filename, content, mime_type in attachments:
        maintype, _, subtype = mime_type.partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message


class SmtpMailer(Mailer):
    def __init__(self, host: str, port: int, sender: str, username: Optional[str] = None,
                 password: Optional[str] = None, starttls: bool = True, use_ssl: bool = False,
                 timeout: float = 10.0, ssl_context: Optional[ssl.SSLContext] = None):
        if starttls and use_ssl:
            raise ValueError("choose SMTP_STARTTLS or SMTP_SSL, not both")
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.starttls, self.use_ssl, self.timeout = starttls, use_ssl, timeout
        self.ssl_context = ssl_context or ssl.create_default_context()

    def send(self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()) -> None:
        message = build_message(self.sender, to, subject, body, attachments)
        try:
            if self.use_ssl:
                client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.ssl_context)
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                client.ehlo()
                if self.starttls:
                    client.starttls(context=self.ssl_context)
                    client.ehlo()
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            # The exception text can echo the recipient; log its type only.
            logger.warning("SMTP delivery via %s:%s failed: %s", self.host, self.port, type(exc).__name__)
            raise MailError(type(exc).__name__) from exc
        logger.info("mail handed to SMTP server %s:%s", self.host, self.port)


class OutboxMailer(Mailer):
    """Writes each message as an .eml file: the embedded default for local runs."""

    def __init__(self, folder: Path, sender: str):
        self.folder, self.sender = Path(folder), sender

    def send(self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()) -> None:
        message = build_message(self.sender, to, subject, body, attachments)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
            path = self.folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
            path.write_bytes(bytes(message))
            path.chmod(0o600)  # it holds a one-time code
        except OSError as exc:
            raise MailError(type(exc).__name__) from exc
        logger.info("no SMTP_HOST set: mail written to %s", path)


def mailer_from_settings(settings: Optional[Settings] = None) -> Mailer:
    settings = settings or get_settings()
    if settings.smtp_host:
        return SmtpMailer(
            settings.smtp_host, settings.smtp_port, settings.mail_from,
            settings.smtp_username, settings.smtp_password,
            starttls=settings.smtp_starttls and not settings.smtp_ssl,
            use_ssl=settings.smtp_ssl, timeout=settings.smtp_timeout,
            ssl_context=ssl.create_default_context(cafile=settings.smtp_ca_file) if settings.smtp_ca_file else None,
        )
    return OutboxMailer(settings.mail_outbox, settings.mail_from)
