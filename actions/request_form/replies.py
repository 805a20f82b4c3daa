"""What the request flow says, built in one place: the confirmation summary, the filed
reply, the questions restated after a digression. The words are the texts of
data/texts/<language>.yml, in the visitor's language (actions/language.py).
"""
from __future__ import annotations

import logging
from typing import Dict

from rasa_sdk import Tracker

from actions.language import labels, language_of, short, status_text, t
from actions.request_form.common import current_types
from imago_core.policy import get_catalogue
from imago_core.requests.deadlines import format_date

logger = logging.getLogger(__name__)


def about(tracker: Tracker) -> str:
    types = current_types(tracker)
    return t(tracker, "request.about.types", labels=labels(tracker, types)) if types else t(tracker, "request.about.none")


def retention_note(policy_url: str, tracker: Tracker) -> str:
    retention = get_catalogue().by_id("retention")
    return t(tracker, "request.retention_note", link=retention.link(policy_url, language_of(tracker)))


def filed_message(views, tracker: Tracker) -> str:
    language = language_of(tracker)

    def fields(view) -> Dict[str, str]:
        return {"type": short(tracker, view.request_type), "reference": view.reference,
                "status": status_text(tracker, view.status), "due": format_date(view.due_at, language)}

    if len(views) == 1:
        view = views[0]
        key = "request.filed.duplicate" if view.duplicate else "request.filed.one"
        return t(tracker, key, **fields(view))
    lines = [t(tracker, "request.filed.several")]
    for view in views:
        item = fields(view)
        if view.duplicate:
            lines.append(t(tracker, "request.filed.several_duplicate", type=item["type"],
                           reference=item["reference"], status=item["status"]))
        else:
            lines.append(t(tracker, "request.filed.several_item", type=item["type"], reference=item["reference"],
                           due=item["due"]))
    lines += ["", t(tracker, "request.filed.several_end")]
    return "\n".join(lines)
