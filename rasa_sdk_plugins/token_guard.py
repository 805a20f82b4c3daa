"""The action server's token guard, attached however the server is started (issue 23,
finding 9).

Why here: the guard used to live in `python -m actions.server` only, so Rasa's own
`rasa run actions`, which every Rasa deployment guide uses, served the same actions
to anyone. rasa-sdk calls `attach_sanic_app_extensions(app)` on this package's hooks
before it serves, from `rasa run actions`, `python -m rasa_sdk` and actions/server.py
alike (rasa_sdk/endpoint.py `run`, rasa_sdk/plugin.py), so the guard is attached here:

- every route but /health needs `?token=ACTION_SERVER_TOKEN` (what Rasa appends for
  endpoints.yml `token:`), compared in constant time; otherwise 401;
- errors answer without echoing the request (rasa-sdk's own handler returns the
  request body, the whole tracker with any code typed, and Rasa logs it);
- without a token of at least MIN_TOKEN_LENGTH characters the server does not start.
"""
from __future__ import annotations

import hmac
import logging

from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from imago_core.settings import get_settings

logger = logging.getLogger(__name__)
MIN_TOKEN_LENGTH = 32
OPEN_PATHS = {"/health"}  # load balancers' health checks carry no token
REFUSAL = ("refusing to start: ACTION_SERVER_TOKEN must be set to at least {n} characters (the token the "
           "Rasa server sends, endpoints.yml `token:`); scripts/run.sh writes one into .env")


def check_token(token: str) -> None:
    if len(token or "") < MIN_TOKEN_LENGTH:
        raise ValueError(f"ACTION_SERVER_TOKEN must be at least {MIN_TOKEN_LENGTH} characters")


def attach_token_guard(app: Sanic, token: str) -> None:
    """Adds the token check and the error handler that echoes nothing to `app`."""
    check_token(token)
    expected = token.encode()

    @app.middleware("request")
    async def require_token(request: Request):
        if request.path in OPEN_PATHS:
            return None
        given = (request.args.get("token") or "").encode()
        if not hmac.compare_digest(given, expected):
            return response.json({"error": "unauthorised"}, status=401)
        return None

    # Replaces rasa-sdk's handler (registered by create_app, so this later one wins).
    @app.exception(Exception)
    async def answer_without_echo(request: Request, exception: Exception):
        if isinstance(exception, SanicException):
            return response.json({"error": "bad request"}, status=getattr(exception, "status_code", 400) or 400)
        logger.error("action %s failed: %s", _action_name(request), type(exception).__name__)
        if _store_unavailable(exception):
            # 503, not 500: the Rasa server abandons the turn and runs it again (extensions/resend.py).
            return response.json({"error": "unavailable"}, status=503)
        return response.json({"error": "internal error"}, status=500)  # nothing from the request


def guard_from_settings(app: Sanic) -> None:
    """The hook's work: the configured token, or no server at all."""
    token = get_settings().action_server_token or ""
    try:
        attach_token_guard(app, token)
    except ValueError:
        message = REFUSAL.format(n=MIN_TOKEN_LENGTH)
        logger.error(message)
        # SystemExit passes through pluggy and rasa's CLI: the process ends with status 1
        # and this message on stderr, before anything listens.
        raise SystemExit(message) from None


def _store_unavailable(exception: Exception) -> bool:
    """The database is away (restarting): the action may succeed when tried again."""
    if isinstance(exception, (OperationalError, DisconnectionError, PoolTimeout)):
        return True
    return isinstance(exception, DBAPIError) and bool(exception.connection_invalidated)


def _action_name(request: Request) -> str:
    try:
        name = (request.json or {}).get("next_action")
    except Exception:  # noqa: BLE001 - an unreadable body has no action name
        return "unknown"
    return name if isinstance(name, str) and len(name) <= 100 else "unknown"
