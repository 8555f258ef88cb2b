"""The data model. Import from here: ``from webapp.models import Transcript``."""
from webapp.models.ingest import IngestRecord
from webapp.models.media import Media
from webapp.models.parts import TranscriptPart
from webapp.models.transcript import Segment, Speaker, Transcript, Word
from webapp.models.people import Person, Voiceprint
from webapp.models.session import UserSession
from webapp.models.sharing import Collection, Share, ShareLink, Tag
from webapp.models.user import ApiToken, User
from webapp.models.webhook import Webhook, WebhookDelivery

__all__ = ["ApiToken", "Collection", "IngestRecord", "Media", "Person", "Segment", "Share", "ShareLink", "Speaker",
           "Tag", "Transcript", "TranscriptPart", "User", "UserSession", "Voiceprint", "Webhook", "WebhookDelivery",
           "Word"]
