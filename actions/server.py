"""The action server, reachable only by the Rasa server that shares its token.

rasa-sdk 3.6 listens on 0.0.0.0 with no authentication, and its 500 answers echo
the request body (the whole tracker, one-time codes included), which the Rasa
server then writes to its log. This entry point builds the same Sanic app with
`rasa_sdk.endpoint.create_app` and adds:

- a loopback default (`--host`, or ACTIONS_HOST, to listen elsewhere);
- the token Rasa sends with every call to `action_endpoint` (endpoints.yml
  `token: ${ACTION_SERVER_TOKEN}`, which Rasa appends as `?token=`): calls without
  it get 401; only /health stays open, for load balancers;
- errors that echo nothing.

Run: `python -m actions.server --port 5055` (ACTION_SERVER_TOKEN must be set).
"""
from __future__ import annotations

import argparse
import hmac
import importlib
import logging
import os
import pkgutil
import sys
from typing import Optional

from rasa_sdk import utils
from rasa_sdk.endpoint import create_app
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request

from imago_core.settings import get_settings

logger = logging.getLogger(__name__)
MIN_TOKEN_LENGTH = 32
OPEN_PATHS = {"/health"}


def import_actions(package: str) -> str:
    """Imports every module of the actions package and returns a module name for
    rasa-sdk to register from (it then finds every Action subclass imported).

    rasa-sdk's own walk (pkgutil.walk_packages without a prefix) imports the
    subpackage `actions.requests` by its bare name, gets the HTTP library `requests`,
    and fails on 'actions.requests.__version__': the server never started. Walking
    with the package's prefix imports the right modules."""
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(getattr(root, "__path__", []), prefix=package + "."):
        importlib.import_module(info.name)
    return __name__ if __name__ != "__main__" else "actions.server"


def build_app(token: str, package: str = "actions") -> Sanic:
    if len(token or "") < MIN_TOKEN_LENGTH:
        raise ValueError(f"ACTION_SERVER_TOKEN must be at least {MIN_TOKEN_LENGTH} characters")
    app = create_app(import_actions(package), cors_origins=None)
    expected = token.encode()

    @app.middleware("request")
    async def require_token(request: Request):
        if request.path in OPEN_PATHS:
            return None
        given = (request.args.get("token") or "").encode()
        if not hmac.compare_digest(given, expected):
            return response.json({"error": "unauthorised"}, status=401)
        return None

    # Replaces rasa-sdk's handler, which answers with the request body.
    @app.exception(Exception)
    async def answer_without_echo(request: Request, exception: Exception):
        if isinstance(exception, SanicException):
            return response.json({"error": "bad request"}, status=getattr(exception, "status_code", 400) or 400)
        logger.error("action %s failed: %s", _action_name(request), type(exception).__name__)
        return response.json({"error": "internal error"}, status=500)  # nothing from the request

    # rasa-sdk's own `run` attaches plugins (rasa_sdk_plugins: the startup of background
    # jobs); this entry point builds the app itself, so it attaches them here.
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    return app


def _action_name(request: Request) -> str:
    try:
        name = (request.json or {}).get("next_action")
    except Exception:  # noqa: BLE001 - an unreadable body has no action name
        return "unknown"
    return name if isinstance(name, str) and len(name) <= 100 else "unknown"


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(description="IMAGO action server (token required)")
    parser.add_argument("--host", default=os.environ.get("ACTIONS_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTIONS_PORT", "5055")))
    parser.add_argument("--actions", default="actions")
    args = parser.parse_args(argv)
    token = get_settings().action_server_token
    try:
        app = build_app(token or "", args.actions)
    except ValueError as exc:
        sys.exit(f"refusing to start: {exc} (scripts/run.sh writes one into .env)")
    utils.configure_colored_logging("INFO")
    utils.update_sanic_log_level()
    logger.info("action server on http://%s:%s (token required)", args.host, args.port)
    app.run(args.host, args.port, workers=utils.number_of_sanic_workers(), access_log=False)


if __name__ == "__main__":
    main()
