"""Domain errors: what services raise when a request cannot be done, with the HTTP status it maps to.

Services never call ``abort()``; the app's one error negotiator (``webapp.create_app``) turns these into JSON under
/api/, a short text for htmx, or an error page. Messages are written for the person who asked, lower case, no
final full stop (the negotiator capitalises them for pages).
"""
from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses; ``status`` is the HTTP status it maps to."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status


class Invalid(DomainError, ValueError):
    """The input cannot be accepted (400)."""


class NotFound(DomainError, LookupError):
    """No such thing, or not yours to see (404: the two are not told apart)."""

    status = 404

    def __init__(self, message: str = "not found"):
        super().__init__(message)


class Conflict(DomainError):
    """Not possible in the thing's current state (409), e.g. a download of a transcript still running."""

    status = 409


class Forbidden(DomainError):
    """Visible to this person, but not theirs to change (403), e.g. a viewer's edit or an editor's delete."""

    status = 403
