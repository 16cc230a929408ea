"""The subjects of incidents: contributors, officers, members, staff and outsiders, with their handles."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.models.base import Base


class PersonRole(StrEnum):
    CONTRIBUTOR = "contributor"
    OFFICER = "officer"
    MEMBER = "member"
    STAFF = "staff"
    EXTERNAL = "external"


PLATFORMS: dict[str, str] = {
    "x": "X (Twitter)",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "linkedin": "LinkedIn",
    "tiktok": "TikTok",
    "youtube": "YouTube",
    "bluesky": "Bluesky",
    "threads": "Threads",
    "mastodon": "Mastodon",
    "whatsapp": "WhatsApp",
    "blog": "Blog or forum",
    "other": "Other",
}


def normalise_handle(handle: str) -> str:
    """Handles compare without the leading @, spaces or case, as the platforms treat them
    (a handle copied from a screenshot often gains a space: "@Dr Smith" is "@drsmith")."""
    return "".join(handle.split()).lstrip("@").lower()


class Person(Base):
    __tablename__ = "people"
    __table_args__ = (
        CheckConstraint("role IN ('contributor', 'officer', 'member', 'staff', 'external')", name="known_role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32), default=PersonRole.CONTRIBUTOR)
    email: Mapped[str | None] = mapped_column(String(254))
    office: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The end of the person's term of office, when known: college breach files are kept from it.
    office_ended_on: Mapped[date | None] = mapped_column(Date)
    # Set when the person's personal data was erased (app/services/erasure.py); the row stays, anonymised.
    erased_at: Mapped[datetime | None]

    handles: Mapped[list[SocialHandle]] = relationship(
        back_populates="person", cascade="all, delete-orphan", order_by="SocialHandle.platform"
    )


class SocialHandle(Base):
    __tablename__ = "social_handles"
    __table_args__ = (
        UniqueConstraint("platform", "handle_key"),
        # The same account name on any platform (repeat detection, subject matching): the unique
        # index above starts with the platform, so it cannot serve a look-up by handle alone.
        Index("ix_social_handles_handle_key", "handle_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    handle: Mapped[str] = mapped_column(String(200))
    # The normalised handle: the same account written "@Dr_Smith" or "dr_smith" is one account.
    handle_key: Mapped[str] = mapped_column(String(200))

    person: Mapped[Person] = relationship(back_populates="handles")

    def __init__(self, *, platform: str, handle: str, person: Person | None = None) -> None:
        super().__init__(platform=platform, handle=handle.strip(), handle_key=normalise_handle(handle))
        if person is not None:
            self.person = person
