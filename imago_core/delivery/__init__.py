"""Delivery: carrying recorded items to the ticketing backend, at least once, never twice.

The outbox pass (`outbox`) delivers any registered kind of item (`kinds`) without
knowing what it is; the loop (`loop`) runs it inside the action server; retry timing
(`retry`); the backends themselves, Request Tracker, Zendesk or a custom class
(`tickets/`); and the runner of the action server's background jobs (`jobs`).
Imports `storage` and `settings`; never `requests` or `handoff`, which register
their items here.
"""
