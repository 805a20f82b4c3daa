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

The token check and the error handler are attached by the rasa-sdk plugin hook
(rasa_sdk_plugins/token_guard.py), so `rasa run actions` has them too (issue 23,
finding 9); this entry point adds the loopback default and calls the same hook.

Run: `python -m actions.server --port 5055` (ACTION_SERVER_TOKEN must be set).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Optional

from rasa_sdk import utils
from rasa_sdk.endpoint import create_app
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic

from imago_core.settings import get_settings
from rasa_sdk_plugins.token_guard import MIN_TOKEN_LENGTH, check_token  # noqa: F401 - re-exported

logger = logging.getLogger(__name__)


def build_app(token: str, package: str = "actions") -> Sanic:
    check_token(token)  # the hook reads the same setting, and would stop the process instead
    app = create_app(package, cors_origins=None)
    # rasa-sdk's own `run` attaches plugins (rasa_sdk_plugins: the token guard, the startup
    # of background jobs); this entry point builds the app itself, so it attaches them here.
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    return app


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
