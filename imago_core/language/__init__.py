"""The languages the assistant answers in, and how a message's language is told.

`detect` reads a message's language by script rules; `choice` resolves which
language a reply is written in from the conversation's language slots; `texts`
loads every text a visitor reads from `data/texts/<language>.yml`; `dates`
writes dates as each language writes them.
"""
from imago_core.language.choice import (  # noqa: F401
    ANSWERED,
    DEFAULT,
    needs_language_notice,
    reply_language,
)
from imago_core.language.detect import (  # noqa: F401
    asks_only_for_language,
    detect_language,
    explicit_choice,
    in_other_language,
)
