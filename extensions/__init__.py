"""Code that runs inside the Rasa server: tracker store and channel connectors."""
