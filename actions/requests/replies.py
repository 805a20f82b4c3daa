"""What the request flow says, built in one place: the confirmation summary, the filed
reply, the questions restated after a digression. (The words themselves move to the
language files with the languages issue.)
"""
from __future__ import annotations

import logging

from rasa_sdk import Tracker

from actions.requests.common import current_types
from imago_core.policy import get_catalogue
from imago_core.requests.deadlines import format_date
from imago_core.requests.flow import (
    labels,
)

logger = logging.getLogger(__name__)


def about(tracker: Tracker) -> str:
    types = current_types(tracker)
    return f"your {labels(types)} request" if types else "your request"


def retention_note(policy_url: str) -> str:
    retention = get_catalogue().by_id("retention")
    return (
        "Please note: deletion may not cover everything. The policy says we keep data where we are "
        "\"subject to legal, contractual, regulatory, or similar, obligations to retain certain types of data\" "
        f"(for example mandatory data retention laws). See {retention.link(policy_url)}."
    )


CONFIRM_BUTTONS = [{"title": "Yes, file it", "payload": "/affirm"}, {"title": "No, cancel", "payload": "/cancel"}]


def filed_message(views) -> str:
    due = "(the earliest legal deadline that applies to it)"
    if len(views) == 1:
        view = views[0]
        if view.duplicate:
            return (f"You already have an open {view.request_type.short} request: **{view.reference}** "
                    f"(status: {view.status.value}, due by {format_date(view.due_at)}). I haven't filed a second one.")
        return (f"Done. Your {view.request_type.short} request is filed.\n\n"
                f"- Reference: **{view.reference}**\n"
                f"- We must answer by: **{format_date(view.due_at)}** {due}\n\n"
                "Keep the reference. You can ask me for the status at any time.")
    lines = ["Done. Each request is filed separately:"]
    for view in views:
        if view.duplicate:
            lines.append(f"- {view.request_type.short}: you already have an open one, **{view.reference}** "
                         f"(status: {view.status.value}); I haven't filed a second one")
        else:
            lines.append(f"- {view.request_type.short}: **{view.reference}**, answer due by "
                         f"**{format_date(view.due_at)}**")
    lines += ["", "We must answer each by its date, the earliest legal deadline that applies. Keep the references; "
              "you can ask me for the status at any time."]
    return "\n".join(lines)
