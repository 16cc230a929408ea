"""What the incident page shows for triaging a reported post: the suggestions still open (with their
accept/reject form) and, for a continued breach (2.32), the author's earlier upheld breaches."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from app.models import Incident, User
from app.models.evidence import REPORT_CHANNELS
from app.permissions import can_decide_suggestions, can_open
from app.services import suggestions as suggestion_service
from app.services.intake import earlier_breaches
from app.services.suggestions import Offer, PostSuggestions
from app.workflow import TransitionDef, WorkflowDef, WorkflowRegistry

FORMAL_ACTION = "formal-action"
ESCALATE_TO_FORMAL = "escalate_to_formal"
VERIFY_REMOVED = "verify_removed"


@dataclass
class RepeatPanel:
    earlier: list[Incident]
    # The step that escalates this incident, when the user may take it now; else the open form's workflow.
    escalate: TransitionDef | None = None
    escalate_later: TransitionDef | None = None  # the step exists but not from here or not for this user
    open_formal: bool = False


@dataclass
class TriagePanels:
    may_decide: bool = False  # the user may accept or reject; ``offers`` are those still open
    offers: list[Offer] = field(default_factory=list)
    repeat: RepeatPanel | None = None
    # The step that closes a removal as done, when the user may take it: the page asks for a fresh capture first.
    verify_step: TransitionDef | None = None
    channels: dict[str, str] = field(default_factory=lambda: dict(REPORT_CHANNELS))


def triage_panels(session: Session, registry: WorkflowRegistry, incident: Incident, definition: WorkflowDef,
                  actor: User, transitions: list[TransitionDef], found: PostSuggestions) -> TriagePanels:
    panels = TriagePanels(verify_step=next((t for t in transitions if t.key == VERIFY_REMOVED), None))
    if can_decide_suggestions(actor, incident):
        panels.may_decide = True
        panels.offers = suggestion_service.open_offers(incident, registry.catalogues, found)
    escalation = definition.transitions.get(ESCALATE_TO_FORMAL)
    in_triage = incident.closed_at is None and (
        incident.state == definition.initial or (escalation is not None and incident.state in escalation.from_states))
    if incident.side == "college" and incident.kind == "reported_post" and definition.key != FORMAL_ACTION \
            and in_triage:
        earlier = earlier_breaches(session, incident, actor)
        if earlier:
            available = next((t for t in transitions if t.key == ESCALATE_TO_FORMAL), None)
            panels.repeat = RepeatPanel(
                earlier=earlier, escalate=available,
                escalate_later=escalation if available is None else None,
                open_formal=FORMAL_ACTION in registry and can_open(actor, registry.get(FORMAL_ACTION)),
            )
    return panels
