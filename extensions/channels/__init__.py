"""Channel connectors served by the Rasa server (configured in credentials.yml)."""

from extensions import startup

startup.install()  # Rasa loads the channels at startup: see extensions/startup.py
