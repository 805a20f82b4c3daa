"""How many code mails an address gets in a window, and from whom (issue 23, finding 3).

Why: one ceiling per address (3 mails in 15 minutes, whoever asks) let a stranger
keep it full: three sends every 15 minutes, from two networks, and the owner never
got a code. Now a ceiling per (address, client network) sits beneath a looser one
per address, so no single network can use up the window: with the defaults (2 per
network, 6 per address) it takes at least three other networks, each asking twice
within the same 15 minutes, before the owner's first send from a network of their
own is held back. Two attacker networks, however often they ask, never can.

Why not "always" for any number of networks: that would let a crowd of networks
(65,536 /64s in one IPv6 /48) mail the owner without bound; the global ceiling is
what keeps the owner's inbox, and our mail reputation, safe. A crowd that large
gains nothing by guessing either: the address's failure budget (address_budget.py)
holds however many networks guess.

A "client network" (verification.client_network) is an IPv4 /24 or an IPv6 /64:
the smallest blocks that one party typically gets as a unit. A /64 is one IPv6
subnet (SLAAC hands a host the whole of it, a VPS comes with one); IPv4 /24 is the
smallest block routed on the internet, and neighbouring addresses (a VM with a few
IPs, a small hosting range) usually belong to one party. Sends with no known client
share one bucket, the safe side. A Rocket.Chat user or visitor id stands in for the
network in that channel (imago_core/identity/client_address.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import func, select

from imago_core.storage.models import CodeSend


@dataclass(frozen=True)
class AddressMailCeiling:
    per_address: int = 6
    per_network: int = 2
    window: timedelta = timedelta(minutes=15)

    def __post_init__(self):
        if not 1 <= self.per_network <= self.per_address:
            raise ValueError("the per-network ceiling must be at least 1 and at most the per-address one")

    def has_room(self, session, address_key: str, client_key: Optional[str], now: datetime) -> bool:
        """Whether a mail may go out now; run inside the send's serialised transaction."""
        mailed = (CodeSend.address_key == address_key, CodeSend.mailed.is_(True), CodeSend.sent_at > now - self.window)
        total = session.execute(select(func.count()).select_from(CodeSend).where(*mailed)).scalar_one()
        if total >= self.per_address:
            return False
        same_network = CodeSend.client_key == client_key if client_key else CodeSend.client_key.is_(None)
        from_network = session.execute(
            select(func.count()).select_from(CodeSend).where(*mailed, same_network)).scalar_one()
        return from_network < self.per_network
