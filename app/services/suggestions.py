"""What Breachdesk suggests about an incident's captured post: patient-identifying information found in
its text and the policy clauses it probably touches. Suggestions only: a person confirms or rejects them;
nothing here changes the incident."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from app.clock import utcnow
from app.models import Incident, User
from app.models.incidents import SEVERITIES
from app.pii import PiiHit, kinds_sentence, scan, severity_for
from app.policy import Catalogues
from app.policy.suggest import Suggestion, suggest_clauses
from app.services import ServiceError, audit
from app.workflow import TransitionDef


@dataclass(frozen=True)
class PostSuggestions:
    text: str | None = None
    pii: list[PiiHit] = field(default_factory=list)
    clauses: list[Suggestion] = field(default_factory=list)


def context_of(incident: Incident) -> str | None:
    """What was said around the post: each report's note (the reporter's, or the officer's when escalating a tag
    or forwarding it by e-mail) and the incident's summary. The suggester weighs it at half a post's evidence."""
    parts: list[str] = []
    for piece in [*(r.note for r in incident.reports), incident.summary]:
        piece = (piece or "").strip()
        if piece and not any(piece in earlier for earlier in parts):
            parts = [earlier for earlier in parts if earlier not in piece] + [piece]
    return "\n".join(parts) or None


def for_incident(incident: Incident, catalogues: Catalogues) -> PostSuggestions:
    text = next((p.text for p in incident.posts if p.text), None)
    if not text:
        return PostSuggestions()
    hits = scan(text)
    role = incident.subject.role if incident.subject else None
    return PostSuggestions(text=text, pii=hits,
                           clauses=suggest_clauses(text, catalogues, author_role=role, pii_hits=hits,
                                                   context=context_of(incident)))


# --- a person's decisions on the suggestions --------------------------------------------------------

# Reserved key in Incident.fields: suggestion key ("clause:rcr:2.8", "severity:critical") -> decision. The one
# place decisions are kept, so a rejected suggestion is never offered again and "PII confirmed" can be asked.
DECISIONS_FIELD = "_suggestion_decisions"
ACCEPTED, REJECTED = "accepted", "rejected"
# The removal request's field that takes the 4-hour path (workflows/content-removal.yaml).
PATIENT_INFO_FIELD = "patient_info"


@dataclass(frozen=True)
class Offer:
    """One suggestion still waiting for a person to accept or reject it."""

    key: str  # "clause:rcr:2.8" or "severity:critical"
    label: str  # "Cite rcr:2.8" / "Raise severity to critical"
    reason: str
    from_pii: bool  # it comes from patient-identifying information in the text

    @property
    def clause(self) -> str | None:
        return self.key.removeprefix("clause:") if self.key.startswith("clause:") else None

    @property
    def severity(self) -> str | None:
        return self.key.removeprefix("severity:") if self.key.startswith("severity:") else None


def decisions(incident: Incident) -> dict[str, dict[str, object]]:
    return dict((incident.fields or {}).get(DECISIONS_FIELD) or {})


def pii_confirmed(incident: Incident) -> bool:
    """Someone accepted a suggestion that came from patient-identifying information (the 4-hour path)."""
    return any(d.get("decision") == ACCEPTED and d.get("pii") for d in decisions(incident).values())


def open_offers(incident: Incident, catalogues: Catalogues, found: PostSuggestions | None = None) -> list[Offer]:
    """The suggestions not yet decided: clauses not cited, rejected or accepted, and a raise of severity
    (from PII in the text) while the incident's severity is below it."""
    found = found if found is not None else for_incident(incident, catalogues)
    decided = decisions(incident)
    cited = {c.clause_key for c in incident.clauses}
    kinds = {hit.kind for hit in found.pii}
    offers = []
    for suggestion in found.clauses:
        key = f"clause:{suggestion.clause}"
        if suggestion.clause in cited or key in decided or not catalogues.known(suggestion.clause):
            continue
        from_pii = bool(kinds & set(catalogues.clause(suggestion.clause).signals.pii))
        offers.append(Offer(key, f"Cite {suggestion.clause}", suggestion.reason, from_pii))
    raised = severity_for(found.pii)
    if raised is not None and SEVERITIES.index(raised) > SEVERITIES.index(incident.severity) \
            and f"severity:{raised}" not in decided:
        offers.append(Offer(f"severity:{raised}", f"Raise severity to {raised}",
                            f"the text shows {kinds_sentence(found.pii)}", True))
    return offers


def decide(session: Session, catalogues: Catalogues, incident: Incident, key: str, *, accept: bool, actor: User,
           expected_version: int | None) -> Offer:
    """Accept (cite the clause, or raise the severity) or reject one suggestion, recording the decision so it
    is not offered again. Raises IncidentChangedElsewhere when the page was stale. Flushes; never commits."""
    from app.services.incidents import IncidentChangedElsewhere, cite, flush_version_checked

    if expected_version is not None and expected_version != incident.version:
        raise IncidentChangedElsewhere(incident)
    offer = next((o for o in open_offers(incident, catalogues) if o.key == key), None)
    if offer is None:
        raise ServiceError("That suggestion is no longer open: it was decided already or the text no longer "
                           "supports it. The page shows what is still open.")
    reference = incident.reference
    incident.bump_version()
    incident.fields = {**(incident.fields or {}), DECISIONS_FIELD: {
        **decisions(incident),
        key: {"decision": ACCEPTED if accept else REJECTED, "pii": offer.from_pii, "by": actor.id,
              "at": utcnow().isoformat()},
    }}
    data: dict[str, object] = {"suggestion": key, "reason": offer.reason, "pii": offer.from_pii}
    if accept and offer.clause is not None:
        posted = next((p.posted_at for p in incident.posts if p.posted_at), None)
        data["cited"] = cite(session, catalogues, incident, [offer.clause], actor=actor, on=(posted or utcnow()).date())
    if accept and offer.severity is not None:
        data["severity"] = {"from": incident.severity, "to": offer.severity}
        incident.severity = offer.severity
    incident.updated_at = utcnow()
    flush_version_checked(session, reference)
    audit.record(session, actor=actor, action="suggestion.accepted" if accept else "suggestion.rejected",
                 incident=incident, data=data)
    return offer


def prefill(incident: Incident, transition: TransitionDef) -> dict[str, object]:
    """Step-form values that follow from confirmed suggestions: once someone confirmed patient-identifying
    information, a removal request starts ticked for the 4-hour path (the person can still untick it)."""
    spec = transition.field(PATIENT_INFO_FIELD)
    if spec is not None and spec.type == "boolean" and pii_confirmed(incident):
        return {f"f_{PATIENT_INFO_FIELD}": True}
    return {}
