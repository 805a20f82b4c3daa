"""The privacy team's request desk, beside the escalation console and behind the same
staff tokens (extensions/channels/staff.py adds these routes to its blueprint):

    GET  /webhooks/staff/requests                      the queue (web/staff/requests.html)
    GET  /webhooks/staff/requests/<reference>          one request (web/staff/request.html)
    GET  /webhooks/staff/api/requests[?status=&type=&regime=&assignee=&format=csv]
    GET  /webhooks/staff/api/requests/<reference>      with its clock, transcript and audit trail
    POST /webhooks/staff/api/requests/<reference>/<action>
         extend {reason} | pause {question} | resume | start | complete | refuse {code, reason}
         | assign {assignee} | note {text} | reveal (the address, audited)

The pages are static; everything they show comes from the API with the Bearer token.
The work is the core's (imago_core/requests/desk_actions.py, desk_queue.py); a refused
action answers 409 with the law's reason, an unknown reference 404.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Dict

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from imago_core.identity.client_address import clean_text
from imago_core.requests import desk_queue, waiting
from imago_core.requests.desk_actions import VERBS, DeskError, act

PAGES = Path(__file__).resolve().parents[2] / "web" / "staff"
ASSETS = {"markdown.js": "application/javascript", "desk.css": "text/css", "desk.js": "application/javascript"}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                               "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
}


def _page(name: str) -> HTTPResponse:
    return response.html((PAGES / name).read_text(encoding="utf-8"), headers=HEADERS)


def _body(request: Request) -> Dict[str, Any]:
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    # Free text from staff goes into mails and the audit log: no control characters.
    return {k: clean_text(v) if isinstance(v, str) else v for k, v in body.items()}


def _filters(request: Request) -> Dict[str, str]:
    return {name: request.args.get(name, "") for name in desk_queue.FILTERS}


def add_routes(blueprint: Blueprint, auth) -> None:
    """`auth`: the console's StaffAuth (token check and failure limit)."""

    @blueprint.route("/requests", methods=["GET"])
    async def queue_page(request: Request) -> HTTPResponse:
        return _page("requests.html")

    @blueprint.route("/requests/<reference>", methods=["GET"])
    async def request_page(request: Request, reference: str) -> HTTPResponse:
        return _page("request.html")

    @blueprint.route("/assets/<name>", methods=["GET"])
    async def asset(request: Request, name: str) -> HTTPResponse:
        if name not in ASSETS:
            return response.text("not found", status=404)
        return response.text((PAGES / name).read_text(encoding="utf-8"), content_type=ASSETS[name], headers=HEADERS)

    @blueprint.route("/api/requests", methods=["GET"])
    async def list_requests(request: Request) -> HTTPResponse:
        actor, refused = auth.check(request)
        if refused:
            return refused
        await asyncio.to_thread(waiting.resume_answered)  # an answered question shows as answered
        items = await asyncio.to_thread(desk_queue.queue, _filters(request))
        if request.args.get("format") == "csv":
            return response.text(desk_queue.to_csv(items), content_type="text/csv; charset=utf-8", headers={
                "Content-Disposition": 'attachment; filename="privacy-requests.csv"', "Cache-Control": "no-store"})
        everything = items if not any(_filters(request).values()) else await asyncio.to_thread(desk_queue.queue)
        return response.json({"requests": items, "counters": desk_queue.counters(everything), "staff": actor})

    @blueprint.route("/api/requests/<reference>", methods=["GET"])
    async def one_request(request: Request, reference: str) -> HTTPResponse:
        actor, refused = auth.check(request)
        if refused:
            return refused
        try:
            item = await asyncio.to_thread(desk_queue.detail, reference)
        except LookupError:
            return response.json({"error": "no such request"}, status=404)
        return response.json({**item, "staff": actor})

    @blueprint.route("/api/requests/<reference>/<verb>", methods=["POST"])
    async def request_action(request: Request, reference: str, verb: str) -> HTTPResponse:
        actor, refused = auth.check(request)
        if refused:
            return refused
        if verb not in VERBS:
            return response.json({"error": f"unknown action; one of {', '.join(VERBS)}"}, status=404)
        try:
            result = await asyncio.to_thread(act, reference, verb, f"staff:{actor}", _body(request))
        except LookupError:
            return response.json({"error": "no such request"}, status=404)
        except DeskError as exc:
            return response.json({"error": str(exc)}, status=409)
        return response.json({"ok": True, **result})
