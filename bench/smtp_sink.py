"""The benchmark's local SMTP sink: the tests' SMTP server (STARTTLS, AUTH) plus a
loopback HTTP side from which the Locust process reads the latest code mailed to an
address: GET /code?to=ADDRESS -> 200 "123456", or 404 while none has arrived."""
from __future__ import annotations

import logging
import re
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from tests.support.smtp_server import TestSmtpServer

_CODE = re.compile(r"\b(\d{6})\b")


class SmtpSink:
    def __init__(self):
        self.smtp = TestSmtpServer(Path(tempfile.mkdtemp(prefix="bench-smtp-")))
        self.http = None

    def start(self) -> "SmtpSink":
        # aiosmtpd logs a deprecation warning of its own for every AUTH login.
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        self.smtp.start()
        smtp = self.smtp

        class CodeLookup(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                address = (parse_qs(urlparse(self.path).query).get("to") or [""])[0]
                message = smtp.last_to(address) if address else None
                found = _CODE.search(message.message.get_content()) if message else None
                body = found.group(1).encode() if found else b"no code yet"
                self.send_response(200 if found else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), CodeLookup)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_port}"

    def env(self) -> dict:
        return self.smtp.env()

    def stop(self) -> None:
        if self.http:
            self.http.shutdown()
            self.http.server_close()
        self.smtp.stop()
