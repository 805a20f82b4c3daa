"""Ticket backends: what a backend must do (`base`), Request Tracker (`rt`), Zendesk
(`zendesk`, `zendesk_auth`), the shared HTTP client (`http`) and choosing one from the
settings (`factory`). Imports `settings`, `vocabulary` and `delivery.retry` only."""
