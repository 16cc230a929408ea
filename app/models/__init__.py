"""All models, imported here so the metadata is complete for Alembic and the app."""

from app.models.api import ApiToken, IdempotencyKey
from app.models.audit import AuditChainHead, AuditEvent
from app.models.base import Base
from app.models.counts import CalendarMonth, DurationBucket, IncidentCount
from app.models.dataprotection import LegalHold, RetentionRecord
from app.models.deadlines import Deadline, DeadlineExtension
from app.models.evidence import EvidenceFile, Post, Report
from app.models.incidents import Incident, IncidentShare, ReferenceCounter, Severity
from app.models.members import CaseFile, CaseFileRep, Employer, Meeting, Member
from app.models.outbox import OutboxMessage
from app.models.people import Person, PersonRole, SocialHandle
from app.models.settings import ClosureDay, OnCallShift, OrganisationSettings
from app.models.subjects import PersonFlag, Warning
from app.models.users import LoginFailure, Team, User
from app.models.workflow import IncidentClause, IncidentLink, WorkflowVersion

__all__ = [
    "CalendarMonth",
    "DurationBucket",
    "IncidentCount",
    "LegalHold",
    "RetentionRecord",
    "Member",
    "Meeting",
    "Employer",
    "CaseFileRep",
    "CaseFile",
    "ApiToken",
    "AuditChainHead",
    "AuditEvent",
    "Base",
    "ClosureDay",
    "Deadline",
    "DeadlineExtension",
    "EvidenceFile",
    "Incident",
    "IncidentClause",
    "IncidentLink",
    "IdempotencyKey",
    "IncidentShare",
    "LoginFailure",
    "OnCallShift",
    "OrganisationSettings",
    "OutboxMessage",
    "Person",
    "PersonFlag",
    "PersonRole",
    "Post",
    "ReferenceCounter",
    "Report",
    "Severity",
    "SocialHandle",
    "Team",
    "User",
    "Warning",
    "WorkflowVersion",
]
