"""What Breachdesk suggests about an incident's captured post: patient-identifying information found in
its text and the policy clauses it probably touches. Suggestions only: a person confirms or rejects them;
nothing here changes the incident."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.models import Incident
from app.pii import PiiHit, scan
from app.policy import Catalogues
from app.policy.suggest import Suggestion, suggest_clauses


@dataclass(frozen=True)
class PostSuggestions:
    text: str | None = None
    pii: list[PiiHit] = field(default_factory=list)
    clauses: list[Suggestion] = field(default_factory=list)


def for_incident(incident: Incident, catalogues: Catalogues) -> PostSuggestions:
    text = next((p.text for p in incident.posts if p.text), None)
    if not text:
        return PostSuggestions()
    hits = scan(text)
    role = incident.subject.role if incident.subject else None
    return PostSuggestions(text=text, pii=hits,
                           clauses=suggest_clauses(text, catalogues, author_role=role, pii_hits=hits))
