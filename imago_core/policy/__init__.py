"""The privacy policy as the assistant knows it: topics, answers and text search."""
from imago_core.policy.catalogue import Catalogue, Topic, get_catalogue

__all__ = ["Catalogue", "Topic", "get_catalogue"]
