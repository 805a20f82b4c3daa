"""Identity: who is on the other end, and what must never be stored about it.

One-time codes mailed to an address and checked (`codes`), the client address and
network the send limits count (`client_address`), moving a request out of a shared
chat room (`private_channel`), the staff's per-person tokens (`staff_auth`), and
masking codes and client addresses before events are stored (`redaction`).
Imports `storage`, `mail` and `settings`.
"""
