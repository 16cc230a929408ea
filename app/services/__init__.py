"""Domain operations shared by views, the API, the CLI and the worker.

Every operation takes the acting user as an argument, changes the session, writes its audit rows
and flushes. None of them commits: the caller commits once, so a decision and its audit row land
together or not at all.
"""


class ServiceError(Exception):
    """A request the service refuses, with a message meant for the person who made it."""


class NotFound(ServiceError):
    """The thing asked for does not exist (or the actor may not know it does)."""


class InvalidInput(ServiceError):
    """Input that cannot be used as given; ``fields`` maps each field to what to fix."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields or {})
