"""IMAGO privacy assistant: custom actions and the services behind them.

The rasa-sdk action server imports every module of this package and registers the
Action subclasses it finds; the services (verification, requests, mail, tickets)
are plain Python so that tests and staff tools use them without Rasa.
"""
