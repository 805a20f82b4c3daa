"""Channel connectors served by the Rasa server (configured in credentials.yml)."""
