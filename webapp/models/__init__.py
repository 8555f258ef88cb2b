"""The data model. Import from here: ``from webapp.models import Transcript``."""
from webapp.models.ingest import IngestRecord
from webapp.models.media import Media
from webapp.models.parts import TranscriptPart
from webapp.models.transcript import Segment, Speaker, Transcript, Word
from webapp.models.session import UserSession
from webapp.models.user import ApiToken, User

__all__ = ["ApiToken", "IngestRecord", "Media", "Segment", "Speaker", "Transcript", "TranscriptPart", "User", "UserSession", "Word"]
