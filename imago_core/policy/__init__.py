"""The privacy policy as the assistant knows it: topics and answers (`catalogue`),
text search over them (`search`), triage of questions the classifier was unsure of
(`triage`) and follow-ups read against the topic just discussed (`followup`).
Imports `settings` only."""
from imago_core.policy.catalogue import Catalogue, Topic, get_catalogue

__all__ = ["Catalogue", "Topic", "get_catalogue"]
