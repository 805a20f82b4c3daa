"""Serves the policy page, the chat widget and the demo site (default port 8080).

    python -m web.server [--port 8080]

Only files under web/site, web/widget and web/vendor are served; nothing is
loaded from other hosts.
"""
from __future__ import annotations

import argparse
import logging
import mimetypes
import os
from functools import lru_cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from web.policy_page import render_policy_html

logger = logging.getLogger("web")
WEB_ROOT = Path(__file__).resolve().parent
# URL prefix -> directory. Anything else is 404.
STATIC_DIRS = {
    "/widget/": WEB_ROOT / "widget",
    "/vendor/": WEB_ROOT / "vendor",
    "/": WEB_ROOT / "site",
}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "SAMEORIGIN",
}


@lru_cache(maxsize=1)
def policy_html() -> bytes:
    return render_policy_html().encode("utf-8")


def resolve_static(path: str) -> Path | None:
    """Maps a URL path to a file inside one of the static folders, or None.
    Resolving and re-checking the parent stops `..` from escaping the folder."""
    for prefix, directory in STATIC_DIRS.items():
        if path.startswith(prefix):
            relative = path[len(prefix):] or "index.html"
            candidate = (directory / relative).resolve()
            if candidate.is_dir():
                candidate = candidate / "index.html"
            if directory.resolve() in candidate.parents and candidate.is_file():
                return candidate
            return None
    return None


class Handler(BaseHTTPRequestHandler):
    server_version = "imago-web"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        path = urlsplit(self.path).path
        if path in ("/policy", "/policy/", "/policy.html"):
            return self._send(HTTPStatus.OK, policy_html(), "text/html; charset=utf-8")
        if path == "/healthz":
            return self._send(HTTPStatus.OK, b"ok", "text/plain")
        file = resolve_static(path)
        if file is None:
            return self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
        ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript",):
            ctype += "; charset=utf-8"
        self._send(HTTPStatus.OK, file.read_bytes(), ctype)

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def _send(self, status: HTTPStatus, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, fmt: str, *args) -> None:
        # Paths only; query strings could carry anything.
        logger.debug("%s %s", self.command, urlsplit(self.path).path)


def make_server(host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("WEB_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("WEB_PORT", "8080")))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s web %(message)s")
    policy_html()  # fail at start, not on first request, if the policy data is broken
    server = make_server(args.host, args.port)
    logger.info("serving demo site on http://%s:%d/ and the policy at /policy", args.host, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
