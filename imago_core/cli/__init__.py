"""The staff's command line, `imago-requests` (`staff`). Sits on top: imports any domain."""
