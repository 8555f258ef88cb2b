"""Errors the pipeline raises with a message a user can read as it is."""


class MediaError(Exception):
    """The file itself is the problem (not audio, no audio track, empty, corrupt, too long).

    Permanent: retrying the same file gives the same answer.
    """


class ModelNotAvailable(Exception):
    """The requested model is not installed here; the message names what is."""
