"""What was captured: the reported post and files (screenshots, letters), each with its SHA-256."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.models.base import Base

if TYPE_CHECKING:
    from app.models.incidents import Incident
    from app.models.users import User


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        # Duplicate reports are found on these two (app/posts.py says how the key is made).
        Index("ix_posts_url_key", "url_key"),
        Index("ix_posts_platform_post_id", "platform", "platform_post_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    url: Mapped[str | None] = mapped_column(Text)
    url_key: Mapped[str | None] = mapped_column(String(2000))
    platform_post_id: Mapped[str | None] = mapped_column(String(128))
    author_handle: Mapped[str | None] = mapped_column(String(200))
    posted_at: Mapped[datetime | None]
    text: Mapped[str | None] = mapped_column(Text)
    text_sha256: Mapped[str | None] = mapped_column(String(64))
    captured_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    captured_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="posts")
    captured_by: Mapped[User | None] = relationship()


class EvidenceFile(Base):
    __tablename__ = "evidence_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    original_name: Mapped[str] = mapped_column(String(255))
    # Generated name under the evidence folder, outside the web root; never derived from user input.
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    captured_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    captured_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="evidence_files")
    captured_by: Mapped[User | None] = relationship()


REPORT_CHANNELS: dict[str, str] = {
    "member_report": "Reported by a member",
    "monitoring": "Found by monitoring",
    "officer": "Reported by an officer",
    "staff": "Reported by staff",
    "email": "Forwarded by e-mail",
    "import": "Imported from a monitoring export",
    "api": "Sent by another system (API)",
}


class Report(Base):
    """One report of an incident's post: who raised it and how. The same post reported again joins
    the existing incident as a further report instead of opening a second incident."""

    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint("channel IN ('member_report', 'monitoring', 'officer', 'staff', 'email', 'import', 'api')",
                        name="known_channel"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(32))
    # Who raised it, as given (a member's name, a monitoring tool); may be someone without an account.
    reporter: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    logged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)

    logged_by: Mapped[User | None] = relationship()
