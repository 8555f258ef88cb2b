"""Errors the pipeline raises with a message a user can read as it is.

Both are defined by the domain (webapp), which raises them too (probing at submit, naming installed models).
"""
from webapp.media_probe import MediaError
from webapp.model_registry import ModelNotAvailable

__all__ = ["MediaError", "ModelNotAvailable"]
