"""Errors that stop start-up. The CLI and the WSGI entry point print them as one line."""


class StartupError(Exception):
    """Configuration or data that makes it unsafe to serve requests (bad database URL, broken workflow file)."""
