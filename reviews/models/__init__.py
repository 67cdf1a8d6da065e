"""The reviews app's models, a module per concept; the app label stays ``reviews``.

- ``service``: Service (what a team launches), Hosting, ImpactLevel
- ``review``: Review, Answer and their states
- ``evidence``: Evidence (links, files, notes)
- ``comment``: Comment
- ``waiver``: Waiver (an exception, a risk acceptance)
- ``signoff``: SignOff
- ``snapshot``: ReadinessSnapshot (a review's readiness each day, for the trends)
- ``audit``: AuditSession (an in-person launch audit), AuditDecision, JournalNote
- ``visit``: ReviewVisit (when a person last looked at a review)
- ``checks``: automated evidence: CheckRun, CheckResult, CheckStanding, ServiceToken,
  PlatformConnection
"""

from reviews.models.audit import AuditDecision, AuditSession, DecisionOutcome, JournalNote
from reviews.models.checks import (
    DEFAULT_API_URLS,
    CheckResult,
    CheckRun,
    CheckRunTrigger,
    CheckStanding,
    ConnectionKind,
    PlatformConnection,
    ServiceToken,
)
from reviews.models.comment import Comment
from reviews.models.evidence import Evidence, EvidenceKind, evidence_upload_to
from reviews.models.review import Answer, AnswerStatus, Review, ReviewKind, ReviewState
from reviews.models.service import Hosting, ImpactLevel, Service
from reviews.models.signoff import SignOff, SignOffDecision
from reviews.models.snapshot import ReadinessSnapshot
from reviews.models.visit import ReviewVisit
from reviews.models.waiver import Waiver, WaiverState

__all__ = [
    "DEFAULT_API_URLS",
    "Answer",
    "AnswerStatus",
    "AuditDecision",
    "AuditSession",
    "CheckResult",
    "CheckRun",
    "CheckRunTrigger",
    "CheckStanding",
    "Comment",
    "ConnectionKind",
    "DecisionOutcome",
    "Evidence",
    "EvidenceKind",
    "Hosting",
    "ImpactLevel",
    "JournalNote",
    "PlatformConnection",
    "ReadinessSnapshot",
    "Review",
    "ReviewKind",
    "ReviewState",
    "ReviewVisit",
    "Service",
    "ServiceToken",
    "SignOff",
    "SignOffDecision",
    "Waiver",
    "WaiverState",
    "evidence_upload_to",
]
