"""Wording of e-mails. They say what happened and what is due, link to the incident, and carry no
special-category details (no summaries, post text or outcomes)."""

from __future__ import annotations

from app.models import Incident


def incident_url(incident: Incident, base_url: str = "") -> str:
    return f"{base_url.rstrip('/')}/incidents/{incident.id}"


def incident_message(incident: Incident, headline: str, base_url: str = "") -> tuple[str, str]:
    subject = f"[Breachdesk] {incident.reference}: {headline}"
    body = (
        f"{headline}\n\n"
        f"Incident: {incident.reference}\n"
        f"Current step: {incident.state.replace('_', ' ')}\n\n"
        f"Open it in Breachdesk: {incident_url(incident, base_url)}\n\n"
        "This message deliberately leaves out the details of the case. Sign in to read them.\n"
    )
    return subject, body
