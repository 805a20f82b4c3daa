"""Hand-off: a conversation passed to a person on the privacy team.

Escalations recorded with their transcript and the visitor's open requests
(`escalations`), and their ticket as an outbox item (`tickets`). Imports `requests`
(to list the open requests), `delivery`, `identity`, `storage` and `settings`.
"""
