"""The fixed set of roles. Permissions are decided in code, so the list lives in code too."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    COMMS = "comms"
    DIRECTOR_OF_COMMS = "director_of_comms"
    PRESS_OFFICE = "press_office"
    OFFICER = "officer"
    REP = "rep"
    REGIONAL_OFFICER = "regional_officer"
    AUDITOR = "auditor"
    # A contributor (not an officer) who may pass on an antagonistic tag or a press approach (the Escalate
    # page, mail-in) and read what they passed on; nothing else.
    CONTRIBUTOR = "contributor"


ROLE_NAMES: tuple[str, ...] = tuple(role.value for role in Role)

ROLE_TITLES: dict[str, str] = {
    Role.ADMIN: "Administrator",
    Role.COMMS: "Communications team",
    Role.DIRECTOR_OF_COMMS: "Director of Communications",
    Role.PRESS_OFFICE: "Press office",
    Role.OFFICER: "Officer",
    Role.REP: "Workplace rep",
    Role.REGIONAL_OFFICER: "Regional officer",
    Role.AUDITOR: "Auditor",
    Role.CONTRIBUTOR: "Contributor",
}
