"""The IMAGO privacy assistant's core: everything that is not Rasa.

Settings, the database and its records, the audit log, email verification, mail,
privacy requests, ticket delivery and backends, the hand-off service, redaction
and the policy catalogue. Nothing here imports Rasa or rasa-sdk: the thin edges
do (`actions/` for the action server, `extensions/` for the Rasa server), and
they depend on this package, never on each other (tests/test_layers.py).
"""
