"""Data-subject requests: access, deletion, correction, export, marketing opt-out.

The flow's rules read from what the visitor writes (`flow`), the confirmed draft
(`drafts`), the recorded request and its reference (`records`), its deadline
(`deadlines`), its ticket as an outbox item (`tickets`), statuses read back from the
backend (`status_sync`) and what follows a status change (`reactions`), the copy of
what the assistant holds (`export`), erasing it (`erasure`) and the retention purge
(`retention`). Imports `delivery`, `identity`, `storage`, `mail` and `settings`.
"""
