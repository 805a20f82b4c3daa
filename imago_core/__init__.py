"""The IMAGO privacy assistant's core: everything that is not Rasa.

    settings     configuration from the environment (one `Settings`)
    vocabulary   request types, statuses and their labels, defined once
    language     which language a message is in
    mail         sending mail (SMTP, or a local outbox folder)
    storage/     the database: engine, tables, locks, the audit log, the conversation store
    identity/    who the visitor is: one-time codes, client addresses, private channels,
                 staff tokens, and masking what must not be stored
    policy/      the privacy policy as the assistant knows it: topics, answers, search
    delivery/    the outbox that carries items to a ticket backend, its retries, the
                 backends themselves (tickets/) and the background jobs
    requests/    data-subject requests: the flow's rules, drafts, records, their tickets,
                 statuses, export, erasure and retention
    handoff/     escalations of a conversation to the privacy team
    cli/         the staff's command line (`imago-requests`)
    service      the parts put together, for the entry points

Nothing here imports Rasa or rasa-sdk: the thin edges do (`actions/` for the action
server, `extensions/` for the Rasa server), and they depend on this package, never on
each other. Inside, the packages form layers, each importing only those below it
(pyproject.toml's import-linter contracts, checked by tests/test_layers.py).
"""
