"""Lexical search over the policy (Okapi BM25), used when the classifier is unsure.

Each topic is one document: its title, what it covers and the policy lines it owns.
The classifier and the search fail in different ways (the classifier on rare words,
the search on paraphrase), so the fallback offers candidates from both.
"""
from __future__ import annotations

import functools
import math
import re
from collections import Counter
from typing import Dict, List, Sequence, Tuple

from imago_core.policy.catalogue import Catalogue, get_catalogue

_TOKEN = re.compile(r"[a-z0-9]+")

STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before
    being both but by can could did do does doing down during each few for from further
    had has have having he her here hers him his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours out over
    own same she should so some such than that the their theirs them then there these they
    this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours yourself imago imagotechnologies
    technologies u ur r pls please hi hello hey ok okay thanks tell know want wanna like
    get got does dont don't im i'm""".split()
)

# Everyday words mapped to the policy's vocabulary. General language only: no
# phrasing copied from test questions.
SYNONYMS: Dict[str, str] = {
    "keep": "retain", "kept": "retain", "store": "retain", "stored": "retain",
    "storing": "retain", "hold": "retain", "long": "retain",
    "delete": "delete", "erase": "delete", "remove": "delete", "wipe": "delete",
    "sell": "sell", "sold": "sell", "selling": "sell", "buy": "sell",
    "share": "share", "shared": "share", "sharing": "share", "give": "share",
    "police": "law", "court": "law", "government": "authorities", "subpoena": "law",
    "unsubscribe": "unsubscribe", "newsletter": "marketing", "spam": "marketing",
    "mailing": "marketing", "promotional": "marketing", "ads": "advertising",
    "job": "recruitment", "apply": "application", "applicant": "application",
    "cv": "application", "resume": "application", "hiring": "recruitment",
    "card": "payment", "credit": "payment", "pay": "payment", "paying": "payment",
    "location": "location", "gps": "location", "app": "app", "phone": "mobile",
    "country": "countries", "abroad": "countries", "server": "facilities",
    "servers": "facilities", "safe": "security", "secure": "security",
    "encrypt": "encryption", "encrypted": "encryption", "hack": "security",
    "protect": "safeguard", "protected": "safeguard",
    "law": "law", "legal": "law", "gdpr": "gdpr", "complain": "complaint",
    "changes": "change", "update": "change", "updated": "change",
    "link": "external", "links": "external",
    "host": "presenter", "presenter": "presenter", "presenters": "presenter",
    "teacher": "presenter", "meeting": "conference", "call": "conference",
    "calls": "conference", "class": "conference",
    "email": "email", "mail": "email", "contact": "contact", "reach": "contact",
    "ip": "ip", "browser": "browser", "tracking": "cookies", "track": "cookies",
    "anonymous": "without", "anonymously": "without",
    "why": "purposes", "use": "purposes", "reason": "purposes",
    "collect": "collect", "collected": "collect", "gather": "collect",
}


def tokenize(text: str) -> List[str]:
    tokens = []
    for raw in _TOKEN.findall(text.lower()):
        if raw in STOPWORDS:
            continue
        word = SYNONYMS.get(raw, raw)
        # Crude plural folding keeps "cookies"/"cookie" together without a stemmer.
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        tokens.append(word)
    return tokens


class PolicySearch:
    def __init__(self, catalogue: Catalogue, k1: float = 1.4, b: float = 0.6):
        self.k1, self.b = k1, b
        self.topic_ids: List[str] = []
        self.docs: List[Counter] = []
        for topic in catalogue.topics:
            text = " ".join([topic.title, topic.title, topic.covers, *catalogue.topic_lines(topic.id)])
            self.topic_ids.append(topic.id)
            self.docs.append(Counter(tokenize(text)))
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg_length = sum(self.lengths) / len(self.lengths)
        df: Counter = Counter()
        for doc in self.docs:
            df.update(doc.keys())
        n = len(self.docs)
        self.idf = {term: math.log(1 + (n - f + 0.5) / (f + 0.5)) for term, f in df.items()}

    def scores(self, query: str) -> List[Tuple[str, float]]:
        """Topic ids with their BM25 score for the query, best first, zeros left out."""
        terms = tokenize(query)
        results = []
        for topic_id, doc, length in zip(self.topic_ids, self.docs, self.lengths):
            score = 0.0
            for term in terms:
                tf = doc.get(term, 0)
                if not tf:
                    continue
                norm = tf + self.k1 * (1 - self.b + self.b * length / self.avg_length)
                score += self.idf[term] * tf * (self.k1 + 1) / norm
            if score > 0:
                results.append((topic_id, score))
        results.sort(key=lambda item: item[1], reverse=True)
        return results

    def top(self, query: str, limit: int = 3) -> Sequence[str]:
        return [topic_id for topic_id, _ in self.scores(query)[:limit]]


@functools.lru_cache(maxsize=1)
def get_search() -> PolicySearch:
    return PolicySearch(get_catalogue())
