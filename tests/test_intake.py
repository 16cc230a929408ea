"""Intake: post addresses (app/posts.py), handle checks, subject matching, duplicate joining and repeat
detection (app/services/intake.py). The database tests run on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.models import AuditEvent, Incident, Person, PersonFlag, Post, Report, SocialHandle
from app.posts import BadUrl, check_url, post_id_from_url, url_key
from app.services import InvalidInput
from app.services.incidents import OpenRequest, PostInput
from app.services.intake import (
    UPHELD_BREACH,
    ReportInput,
    SubjectInput,
    check_handle,
    check_post,
    earlier_breaches,
    report_post,
    resolve_subject,
)
from app.services.users import get_or_create_team

# --- addresses --------------------------------------------------------------------------------------


@pytest.mark.parametrize("variants", [
    ["https://twitter.com/Dr_X/status/1234567890?s=20", "https://x.com/dr_x/status/1234567890",
     "https://mobile.twitter.com/DR_X/status/1234567890/", "http://www.x.com/dr_x/status/1234567890#reply",
     "https://x.com/dr_x/status/1234567890?utm_source=share&t=abc"],
    ["https://www.instagram.com/p/CxYz123AbC/?igsh=abc", "https://instagram.com/p/CxYz123AbC"],
    ["https://youtu.be/dQw4w9WgXcQ?si=x", "https://www.youtube.com/watch?v=dQw4w9WgXcQ&feature=share",
     "https://m.youtube.com/watch?v=dQw4w9WgXcQ"],
    ["https://m.facebook.com/someone/posts/pfbid0abc123", "https://www.facebook.com/someone/posts/pfbid0abc123?fbclid=Z"],
])
def test_the_same_post_written_differently_has_one_key(variants: list[str]) -> None:
    keys = {url_key(check_url(v)) for v in variants}
    assert len(keys) == 1, keys


def test_different_posts_have_different_keys() -> None:
    assert url_key("https://x.com/dr_x/status/1234567890") != url_key("https://x.com/dr_x/status/1234567891")
    # Instagram short codes are case-sensitive: only the user part of a path is folded.
    assert url_key("https://instagram.com/p/CxYz123AbC") != url_key("https://instagram.com/p/cxyz123abc")
    # Query parameters that say which post it is are kept.
    assert url_key("https://youtube.com/watch?v=dQw4w9WgXcQ") != url_key("https://youtube.com/watch?v=aaaaaaaaaaa")


@pytest.mark.parametrize(("url", "expected"), [
    ("https://twitter.com/Dr_X/status/1234567890?s=20", ("x", "1234567890")),
    ("https://www.instagram.com/reel/CxYz123AbC/", ("instagram", "CxYz123AbC")),
    ("https://youtu.be/dQw4w9WgXcQ", ("youtube", "dQw4w9WgXcQ")),
    ("https://www.youtube.com/shorts/dQw4w9WgXcQ", ("youtube", "dQw4w9WgXcQ")),
    ("https://www.linkedin.com/posts/jane_activity-7123456789012345678-abcd", ("linkedin", "7123456789012345678")),
    ("https://www.tiktok.com/@Dr.Y/video/7234567890123456789", ("tiktok", "7234567890123456789")),
    ("https://bsky.app/profile/Dr.bsky.social/post/3kabc123xyz", ("bluesky", "3kabc123xyz")),
    ("https://www.threads.net/@doc/post/C1a2b3c4d5", ("threads", "C1a2b3c4d5")),
    ("https://mastodon.social/@doc/111222333444", ("mastodon", "111222333444")),
    ("https://www.facebook.com/someone/posts/pfbid0abc123", ("facebook", "pfbid0abc123")),
    ("https://example.org/blog/a-post", None),
    ("https://x.com/dr_x", None),
])
def test_platform_post_ids_come_from_the_address(url: str, expected: tuple[str, str] | None) -> None:
    assert post_id_from_url(url) == expected


@pytest.mark.parametrize(("url", "message"), [
    ("", "Give the post's address"),
    ("   ", "Give the post's address"),
    ("x.com/dr_x/status/1", "starting https://"),
    ("ftp://x.com/a", "starting https://"),
    ("javascript:alert(1)", "starting https://"),
    ("https://x.com/a b", "no spaces"),
    ("https://localhost/a", "no proper site name"),
    ("https://ex ample.org", "no spaces"),
    ("https://x.com:99999/a", "not a web address"),
    ("https://x.com/" + "a" * 2000, "characters long"),
])
def test_bad_addresses_are_refused_saying_what_to_fix(url: str, message: str) -> None:
    with pytest.raises(BadUrl, match=message):
        check_url(url)


# --- handles -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("handle", ["@dr_smith", "Dr.Smith", "  @Dr-Smith  ", "doc@mastodon.social", "@Dr Smith"])
def test_ordinary_handles_are_accepted_as_typed(handle: str) -> None:
    assert check_handle(handle) == handle.strip()


@pytest.mark.parametrize(("handle", "message"), [
    ("<script>", "has characters no platform allows"),
    ("@dr_smith;DROP", "';'"),
    ("@dr/smith", "'/'"),
    ("   ", "blank"),
    ("@" + "a" * 120, "characters long"),
])
def test_odd_handles_are_refused(handle: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as refused:
        check_handle(handle, "author_handle")
    assert "author_handle" in refused.value.fields


def test_check_post_fills_in_the_post_id_and_refuses_every_problem_at_once() -> None:
    checked = check_post(PostInput(platform="x", url=" https://twitter.com/Dr_X/status/1234567890?s=20 "))
    assert checked.url == "https://twitter.com/Dr_X/status/1234567890?s=20"
    assert checked.platform_post_id == "1234567890"
    # An id from another platform's address is not taken for this platform's id.
    assert check_post(PostInput(platform="instagram", url="https://x.com/a/status/1234567890")).platform_post_id is None
    later = datetime.now(UTC) + timedelta(hours=2)
    with pytest.raises(InvalidInput) as refused:
        check_post(PostInput(platform="x", url="not a url", posted_at=later, author_handle="<b>"))
    assert set(refused.value.fields) == {"url", "posted_at", "author_handle"}
    with pytest.raises(InvalidInput) as refused:
        check_post(PostInput(platform="myspace", url="https://myspace.com/a"))
    assert set(refused.value.fields) == {"platform"}


# --- subjects ----------------------------------------------------------------------------------------


def _person(db, name: str, *handles: tuple[str, str], role: str = "contributor") -> Person:
    person = Person(name=name, role=role)
    for platform, handle in handles:
        person.handles.append(SocialHandle(platform=platform, handle=handle))
    db.add(person)
    db.commit()
    return person


def test_resolve_subject_matches_a_handle_on_another_platform_whatever_the_case_or_spacing(db, make) -> None:
    actor = make.user("comms")
    known = _person(db, "Dr Sam Example", ("x", "@Sam_Example"))
    found = resolve_subject(db, SubjectInput(name="Sam E", handles=[("instagram", " @SAM _example ")]),
                            actor=actor, via="test")
    assert found.id == known.id
    # The new handle is learnt for next time.
    assert {(h.platform, h.handle_key) for h in found.handles} == {("x", "sam_example"), ("instagram", "sam_example")}
    assert db.scalar(select(func.count(Person.id))) == 1


def test_resolve_subject_creates_a_person_with_an_audit_row(db, make) -> None:
    actor = make.user("comms")
    person = resolve_subject(db, SubjectInput(name="  New   Author ", role="officer",
                                              handles=[("x", "@new_author"), ("x", "@New_Author")]),
                             actor=actor, via="test")
    db.commit()
    assert person.name == "New Author" and person.role == "officer"
    assert [h.handle for h in person.handles] == ["@new_author"]  # the same handle twice is one handle
    assert db.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "person.created")) == 1


def test_handles_of_two_different_people_are_refused(db, make) -> None:
    actor = make.user("comms")
    _person(db, "One", ("x", "@one"))
    _person(db, "Two", ("facebook", "two.person"))
    with pytest.raises(InvalidInput, match="different people") as refused:
        resolve_subject(db, SubjectInput(name="Mixed", handles=[("x", "@one"), ("facebook", "two.person")]),
                        actor=actor, via="test")
    assert "subject.handles" in refused.value.fields
    db.rollback()
    assert db.scalar(select(func.count(Person.id))) == 2


@pytest.mark.parametrize(("subject", "field"), [
    (SubjectInput(name=""), "subject.name"),
    (SubjectInput(name="A", role="boss"), "subject.role"),
    (SubjectInput(name="A", handles=[("myspace", "@a")]), "subject.handles.0.platform"),
    (SubjectInput(name="A", handles=[("x", "@ok"), ("x", "bad handle!")]), "subject.handles.1.handle"),
    (SubjectInput(person_id=999_999), "subject"),
])
def test_bad_subjects_are_refused_with_nothing_added(db, make, subject: SubjectInput, field: str) -> None:
    actor = make.user("comms")
    with pytest.raises(InvalidInput) as refused:
        resolve_subject(db, subject, actor=actor, via="test")
    assert field in refused.value.fields
    db.rollback()
    assert db.scalar(select(func.count(Person.id))) == 0


# --- duplicates --------------------------------------------------------------------------------------


def _report(db, registry, actor, url: str, *, platform: str = "x", post_id: str | None = None,
            channel: str = "member_report", subject: Person | None = None, title: str = "Reported post"):
    post = check_post(PostInput(platform=platform, url=url, platform_post_id=post_id, author_handle="@dr_x",
                                text="text"))
    return report_post(db, registry, OpenRequest(workflow_key="problem-solving", title=title, post=post,
                                                 subject=subject),
                       ReportInput(channel=channel, reporter="A member"), actor=actor)


def _counts(db) -> tuple[int, int, int]:
    return (db.scalar(select(func.count(Incident.id))), db.scalar(select(func.count(Post.id))),
            db.scalar(select(func.count(Report.id))))


def test_the_same_post_written_differently_joins_one_incident(app, db, make) -> None:
    registry = app.extensions["breachdesk.workflows"]
    actor = make.user("comms", team="communications")
    first = _report(db, registry, actor, "https://twitter.com/Dr_X/status/1234567890?s=20")
    db.commit()
    again = _report(db, registry, actor, "https://x.com/dr_x/status/1234567890/", channel="monitoring")
    db.commit()
    assert not first.joined and again.joined
    assert again.incident.id == first.incident.id
    assert _counts(db) == (1, 1, 2)
    reports = db.scalars(select(Report).where(Report.incident_id == first.incident.id).order_by(Report.id)).all()
    assert [r.channel for r in reports] == ["member_report", "monitoring"]
    assert all(r.post_id == first.incident.posts[0].id for r in reports)
    rows = db.scalars(select(AuditEvent).where(AuditEvent.action == "incident.reported_again")).all()
    assert len(rows) == 1 and rows[0].incident_id == first.incident.id
    assert rows[0].data["channel"] == "monitoring"


def test_the_same_platform_post_id_joins_even_with_another_address(app, db, make) -> None:
    registry = app.extensions["breachdesk.workflows"]
    actor = make.user("comms", team="communications")
    first = _report(db, registry, actor, "https://www.instagram.com/p/CxYz123AbC/", platform="instagram")
    db.commit()
    # A share link with a different path, but the platform's own id given by hand.
    again = _report(db, registry, actor, "https://instagram.com/share/abcdef", platform="instagram",
                    post_id="CxYz123AbC")
    db.commit()
    assert again.joined and again.incident.id == first.incident.id
    assert _counts(db) == (1, 1, 2)
    # Same id on another platform is another post.
    other = _report(db, registry, actor, "https://www.tiktok.com/@x/video/12345678", platform="tiktok")
    db.commit()
    assert not other.joined and _counts(db) == (2, 2, 3)


# --- repeat detection --------------------------------------------------------------------------------


def _upheld(db, registry, actor, person: Person, title: str, **kw) -> Incident:
    from app.services.incidents import open_incident

    incident = open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title=title, subject=person,
                                                       **kw), actor=actor)
    db.add(PersonFlag(person_id=person.id, incident_id=incident.id, flag=UPHELD_BREACH))
    db.commit()
    return incident


def test_earlier_breaches_match_by_person_and_by_handle_across_platforms(app, db, make) -> None:
    registry = app.extensions["breachdesk.workflows"]
    comms = make.user("comms", team="communications")
    author = _person(db, "Dr X", ("x", "@Dr_X"))
    same_person_earlier = _upheld(db, registry, comms, author, "Earlier post, same person")
    # Someone else on file whose Instagram handle is the same account name written another way.
    alias = _person(db, "Dr X (Instagram)", ("instagram", "dr_x"))
    handle_earlier = _upheld(db, registry, comms, alias, "Earlier post on Instagram")
    unrelated = _person(db, "Someone else", ("x", "@someone"))
    _upheld(db, registry, comms, unrelated, "Not this author")
    not_upheld = _report(db, registry, comms, "https://x.com/dr_x/status/99999999", subject=author,
                         title="Reported but never upheld").incident
    db.commit()

    # A new post with no subject: matched by its author handle, in another case and spacing.
    post = check_post(PostInput(platform="tiktok", url="https://www.tiktok.com/@drx/video/123456789",
                                author_handle="@DR _X"))
    current = report_post(db, registry, OpenRequest(workflow_key="problem-solving", title="New post", post=post),
                          ReportInput(channel="monitoring"), actor=comms).incident
    db.commit()
    found = earlier_breaches(db, current, comms)
    assert {i.id for i in found} == {same_person_earlier.id, handle_earlier.id}
    assert not_upheld.id not in {i.id for i in found}

    # The subject's own handles count too (no post handle needed).
    by_subject = _report(db, registry, comms, "https://x.com/dr_x/status/77777777", subject=author).incident
    db.commit()
    assert {i.id for i in earlier_breaches(db, by_subject, comms)} == {same_person_earlier.id, handle_earlier.id}


def test_earlier_breaches_none_for_a_first_offence(app, db, make) -> None:
    registry = app.extensions["breachdesk.workflows"]
    comms = make.user("comms", team="communications")
    author = _person(db, "First timer", ("x", "@first_timer"))
    other = _person(db, "Other", ("x", "@other"))
    _upheld(db, registry, comms, other, "Someone else's breach")
    current = _report(db, registry, comms, "https://x.com/first_timer/status/5555555", subject=author).incident
    db.commit()
    assert earlier_breaches(db, current, comms) == []


def test_earlier_breaches_lists_only_incidents_the_user_may_see(app, db, make) -> None:
    registry = app.extensions["breachdesk.workflows"]
    comms = make.user("comms", team="communications")
    director = make.user("director_of_comms")
    author = _person(db, "Dr X", ("x", "@dr_x"))
    visible = _upheld(db, registry, director, author, "Visible to comms")
    hidden = _upheld(db, registry, director, author, "Restricted file", restricted=True)
    other_team = _upheld(db, registry, director, author, "Another team's file",
                         team=get_or_create_team(db, "press-office"))
    current = _report(db, registry, comms, "https://x.com/dr_x/status/4444444", subject=author).incident
    db.commit()
    assert [i.id for i in earlier_breaches(db, current, comms)] == [visible.id]
    # The director sees every college file, and the restricted one because they opened it.
    assert {i.id for i in earlier_breaches(db, current, director)} == {visible.id, hidden.id, other_team.id}
