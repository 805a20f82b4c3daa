"""Questions a visitor asks about a request rather than about data (no Rasa here).

Inside a request, or once it is filed, "how long will that take?" asks for the
request's deadline, not for the retention section; "what's next?", "who handles
it?", "does it cost anything?" and "can I cancel it?" have answers of their own,
read from the request's facts (imago_core/requests/records.py). And a question
that names actions on the visitor's own data ("can I delete my account and also
unsubscribe?") is a request in question form: every type named is offered.

Only the words are read here; whether a request is under way or filed is the
caller's context (a question about data, "how long do you keep my data?", is never
one about the request).
"""
from __future__ import annotations

import enum
import re
from typing import List, Optional

from imago_core.requests.flow import requested_types, without_markup
from imago_core.storage.models import RequestType


class RequestQuestion(str, enum.Enum):
    DEADLINE = "deadline"
    NEXT = "next"
    WHO = "who"
    COST = "cost"
    CANCEL = "cancel"


# Questions about data itself: these belong to the policy's sections even mid-request.
_ABOUT_DATA = re.compile(
    r"\b(?:keep|kept|store[sd]?|storing|retain\w*|hold on to|save[sd]?|sell|sold|share[sd]?|sharing"
    r"|collect\w*|cookies?|transfer\w*|protect\w*|secur\w*)\b", re.I)

_PATTERNS = {
    RequestQuestion.CANCEL: r"\b(?:can|could|may|how do|how can|is it possible to|am i able to|will i be able to)\b"
                            r".{0,30}\b(?:cancel\w*|withdraw\w*|undo|revoke|take (?:it|that|this) back"
                            r"|change my mind|stop (?:it|the request|this))"
                            r"|\bcancel\w* (?:it |this |that |the request )?(?:later|afterwards|after)\b",
    RequestQuestion.COST: r"\b(?:costs?|costing|fees?|charged?|charges|pay|paying|paid|price|free of charge|for free"
                          r"|is (?:it|this|that) free|how much (?:is|does|will|would|do))\b",
    RequestQuestion.WHO: r"\bwho\b.{0,25}\b(?:handl\w*|deal\w*|process\w*|look\w* (?:at|into)|review\w*|work\w* on"
                         r"|take care|in charge|responsible|read\w*|see (?:it|this|that|my request))"
                         r"|\b(?:which|what) (?:team|department|person)\b"
                         r"|\b(?:will|does|do) (?:a )?(?:human|real person|person|people|someone) (?:look|read|see|check"
                         r"|handle|review)",
    RequestQuestion.DEADLINE: r"\bhow long\b|\bhow much time\b|\bhow many (?:days|weeks|months)\b|\bby when\b"
                              r"|\bhow (?:soon|quickly|fast)\b|\btake long\b|\bdeadline\b|\btime ?frame\b|\btimeline\b"
                              r"|\bwhen (?:will|would|do|can|should|is)\b",
    RequestQuestion.NEXT: r"\bwhat(?:'s| is| are| happens?| will happen| do i do| should i do| now)?\s*(?:next|now)\b"
                          r"|\bthen what\b|\bnext steps?\b|\bwhat happens (?:after|then|once|afterwards|with it)"
                          r"|\bwhat (?:do|will|are) you (?:going to )?do (?:now|next|with (?:it|this|that|my request))"
                          r"|\bhow (?:will|do|would) i (?:hear|know|find out|get (?:it|the|my|an? answer|a reply))"
                          r"|\bwill (?:i|you) (?:hear|get|receive|email|tell|let me know|contact)"
                          r"|\bhow will you (?:contact|reach|tell|let me know|reply|answer|send)",
}
_RES = {kind: re.compile(pattern, re.I) for kind, pattern in _PATTERNS.items()}

# A question ("can I …", "how do I …", "is it possible to …", "…?"): a request in
# question form, when it also names a request type on the visitor's own data.
# "Can you / could you / would you delete it?" is a polite instruction, not a question:
# it starts the request as it is (data/nlu/requests.yml).
_QUESTION_FORM = re.compile(
    r"^\W*(?:hi|hello|hey)?\W*(?:(?:can|could|may|might) (?:i|we)|is it possible|is there a way"
    r"|how (?:do|can|would|should|could) (?:i|we)|what do i (?:do|need)|where (?:do|can) i|am i able"
    r"|do you (?:let|allow))\b", re.I)
_OWN_DATA = re.compile(r"\b(?:i|me|my|mine|myself|i'm|im)\b", re.I)
# About the right itself, not asking to use it now: "what rights do I have to deletion?".
_ABOUT_THE_RIGHT = re.compile(
    r"\b(?:what|which) (?:are )?(?:my |the )?rights?\b|\bright to\b|\brights?\b.{0,20}\b(?:have|under)\b"
    r"|\bdo i have (?:a |the |any )?rights?\b|\bam i (?:entitled|allowed)\b|\blaw\b|\bgdpr\b|\bcan (?:anyone|people|users)\b",
    re.I)


def request_question(text: str) -> Optional[RequestQuestion]:
    """What a question about a request asks (its deadline, what happens next, who
    handles it, its cost, cancelling it), or None for anything else, a question
    about data included ("how long do you keep my data?")."""
    text = without_markup(text)
    if not text:
        return None
    for kind, pattern in _RES.items():  # cancel, cost and who first; "when will I hear back" is the deadline
        if pattern.search(text):
            if kind in (RequestQuestion.DEADLINE, RequestQuestion.WHO) and _ABOUT_DATA.search(text):
                return None
            return kind
    return None


def requests_in_question(text: str) -> List[RequestType]:
    """The request types a question asks to have done to the visitor's own data
    ("can I delete my account and also unsubscribe?": deletion and opt-out); empty
    for a question about the right itself or about data in general."""
    text = without_markup(text)
    if not _QUESTION_FORM.search(text) or not _OWN_DATA.search(text) or _ABOUT_THE_RIGHT.search(text):
        return []
    return requested_types(text)
