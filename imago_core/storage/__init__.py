"""Storage: where the assistant's own data lives.

The database engine and sessions (`db`), the tables (`models`), cross-replica locks
(`locks`), the audit log (`audit`), markers of inbound messages already seen
(`message_dedup`) and Rasa's conversation store read and pruned from outside Rasa
(`conversations`). Owns no business rule. Imports only `settings` and `vocabulary`.
"""
