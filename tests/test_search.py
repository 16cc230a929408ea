"""Full-text search: titles, summaries, post text and notes; quoted terms only; escaped highlights; visibility."""

import re

import pytest

from app.models import Incident, User
from app.services import search
from app.services.incidents import OpenRequest, PostInput, open_incident
from tests.conftest import csrf_token, login

ROW_LINK = re.compile(r'<th scope="row"><a href="/incidents/(\d+)"')


def _open(app, db, actor, title, **kw):
    registry = app.extensions["breachdesk.workflows"]
    incident = open_incident(db, registry, OpenRequest(workflow_key=kw.pop("workflow", "problem-solving"),
                                                       title=title, **kw), actor=db.get(User, actor.id))
    db.commit()
    return incident.id


def _found(client, query, **args):
    response = client.get("/incidents", query_string={"q": query, "status": "all", **args})
    assert response.status_code == 200, (query, response.status_code)
    html = response.get_data(as_text=True)
    return [int(i) for i in ROW_LINK.findall(html)], html


# --- the pieces --------------------------------------------------------------------------------------

def test_user_text_becomes_plain_quoted_terms():
    assert search.terms_of('"NEAR(rude post)* -abuse: (x) OR Abuse') == ("near", "rude", "post", "abuse", "x", "or")
    assert search.fts5_query(("near", "or")) == '"near" "or"'
    assert search.terms_of('"*-:() ^ {} OR"')[:1] == ("or",)
    assert search.terms_of("\"*-:()^{}'") == ()
    assert len(search.terms_of(" ".join(f"w{i}" for i in range(50)))) == search.MAX_TERMS


def test_highlight_escapes_everything_and_marks_only_the_terms():
    html = str(search.highlight_html("<script>alert('Rude')</script> a rude post", ("rude", "script")))
    assert "<script>" not in html and "&lt;" in html
    assert html.count("<mark>") == 4 and "<mark>Rude</mark>" in html and "<mark>rude</mark>" in html
    assert str(search.highlight_html("<b>nothing</b>", ("absent",))) == "&lt;b&gt;nothing&lt;/b&gt;"


def test_snippet_is_cut_around_the_first_match():
    text = "lorem " * 40 + "the offensive <i>word</i> here " + "ipsum " * 40
    snippet = str(search.snippet_html(text, ("offensive",), width=30))
    assert snippet.startswith("…") and snippet.endswith("…") and "<mark>offensive</mark>" in snippet
    assert "&lt;i&gt;word&lt;/i&gt;" in snippet and len(snippet) < 160
    assert search.snippet_html(text, ("missing",)) is None


# --- through the queue page ----------------------------------------------------------------------------

def test_search_matches_titles_summaries_post_text_and_notes(client, app, db, signed_in):
    comms = signed_in("comms", team="communications")
    by_title = _open(app, db, comms, "Zebracorn impersonation account")
    by_summary = _open(app, db, comms, "Plain title", summary="the zebracorn again")
    by_post = _open(app, db, comms, "Another post", post=PostInput(platform="x", url="https://x.com/a/status/1",
                                                                      text="Look at this ZEBRACORN nonsense"))
    by_note = _open(app, db, comms, "Closed one")
    unrelated = _open(app, db, comms, "Nothing to see")
    token = csrf_token(client, f"/incidents/{by_note}")
    response = client.post(f"/incidents/{by_note}/transitions/close_no_breach",
                           data={"close_no_breach-csrf_token": token, "close_no_breach-version": "1",
                                 "close_no_breach-comment": "Checked: the zebracorn claim was a joke"})
    assert response.status_code == 302
    for sort in ("relevance", "newest", "due"):
        found, html = _found(client, "zebracorn", sort=sort)
        assert sorted(found) == sorted([by_title, by_summary, by_post, by_note]), sort
        assert unrelated not in found
    found, html = _found(client, "zebracorn")
    assert "<mark>Zebracorn</mark> impersonation" in html
    assert "Look at this <mark>ZEBRACORN</mark> nonsense" in html
    assert "the <mark>zebracorn</mark> claim" in html
    # Every term is required; the order of words does not matter.
    assert _found(client, "impersonation zebracorn")[0] == [by_title]
    assert _found(client, "zebracorn absentword")[0] == []


def test_highlighted_result_is_escaped_when_the_text_holds_markup(client, app, db, signed_in):
    comms = signed_in("comms", team="communications")
    script = "<script>alert('pwned')</script>"
    incident = _open(app, db, comms, f"Title {script} quokka",
                     post=PostInput(platform="x", url="https://x.com/a/status/2", text=f"quokka {script} text"))
    found, html = _found(client, "quokka script")
    assert found == [incident]
    assert script not in html and "<mark>script</mark>" in html and "&lt;" in html


@pytest.mark.parametrize("query", ['"', "*", "NEAR(", "-", ":", "(", "OR", "AND", "NOT", '"quokka', "quokka*",
                                   "title:quokka", "quokka OR", "-quokka", "NEAR(quokka, 2)", "^quokka", "{a b}:c",
                                   "quokka\x00", "'; DROP TABLE incidents; --", "a & b | !c <-> d"])
def test_query_syntax_characters_are_safe(client, app, db, signed_in, query):
    comms = signed_in("comms", team="communications")
    incident = _open(app, db, comms, "A quokka OR a wombat")
    found, html = _found(client, query)
    words = search.terms_of(query.replace("\x00", ""))
    if not words:
        assert found == [] and "Nothing to search for" in html
    else:
        expected = [incident] if set(words) <= {"quokka", "or", "a", "wombat"} else []
        assert found == expected, (query, words)


def test_a_query_of_only_punctuation_gets_a_helpful_empty_result(client, app, db, signed_in):
    comms = signed_in("comms", team="communications")
    _open(app, db, comms, "Anything")
    found, html = _found(client, '"*()-:')
    assert found == [] and "Nothing to search for" in html and "Type at least one word" in html


def test_search_never_reveals_a_restricted_incident_to_someone_who_may_not_read_it(app, db, make):
    owner = make.user("comms", team="communications")
    secret = _open(app, db, owner, "Okapi health disclosure", restricted=True,
                   post=PostInput(platform="x", url="https://x.com/a/status/3", text="okapi diagnosis details"))
    visible = _open(app, db, owner, "Okapi open case")
    for role in ("comms", "director_of_comms", "admin"):
        client = app.test_client()
        login(client, make.user(role, team="communications" if role == "comms" else None))
        for query in ("okapi", "diagnosis", "okapi disclosure"):
            found, html = _found(client, query)
            assert secret not in found, (role, query)
            assert "Okapi health" not in html and "diagnosis details" not in html, (role, query)
        assert _found(client, "okapi")[0] == [visible]
    # The owner may read it, so finds it.
    client = app.test_client()
    login(client, db.get(User, owner.id))
    assert sorted(_found(client, "okapi")[0]) == sorted([secret, visible])


def test_the_index_follows_edits_and_deletions(client, app, db, signed_in):
    comms = signed_in("comms", team="communications")
    incident_id = _open(app, db, comms, "Capybara sighting")
    assert _found(client, "capybara")[0] == [incident_id]
    incident = db.get(Incident, incident_id)
    incident.title = "Axolotl sighting"
    incident.bump_version()
    db.commit()
    assert _found(client, "capybara")[0] == []
    assert _found(client, "axolotl")[0] == [incident_id]
    incident = db.get(Incident, incident_id)
    incident.state = incident.state  # a change that is not to the text leaves the index alone
    incident.bump_version()
    db.commit()
    assert _found(client, "axolotl")[0] == [incident_id]


def test_very_common_words_are_ranked_without_bm25_but_title_matches_first(app, db, make, monkeypatch):
    from app.services import queue

    comms = make.user("comms", team="communications")
    in_title = _open(app, db, comms, "Narwhal in the title")
    posts = [_open(app, db, comms, f"Post {n}", post=PostInput(platform="x", url=f"https://x.com/a/status/{n}",
                                                                 text="a narwhal again")) for n in range(3)]
    actor = db.get(User, comms.id)
    if db.get_bind().dialect.name == "sqlite":
        monkeypatch.setattr(search, "COMMON", 2)  # three posts: "very common" in posts, not in titles
        assert search.common_sources(db, ("narwhal",)) == {"posts_fts"}
    page = queue.page(db, queue.QueueFilters(q="narwhal", status="all", sort="relevance"), actor)
    found = [row.incident.id for row in page.rows]
    assert sorted(found) == sorted([in_title, *posts])
    if db.get_bind().dialect.name == "sqlite":
        assert found == [in_title, *sorted(posts, reverse=True)]  # bm25-scored title, then unscored newest first


def test_postgresql_finds_the_same_ranked_rows_through_its_index_as_by_walking_newest_first(app, db, make):
    """PostgreSQL's planner chooses between the GIN index on the stored vectors and a newest-first walk (word
    frequency decides); either way a search must give the same rows in the same order."""
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("the choice of plan is PostgreSQL's; SQLite searches its FTS5 tables")
    from sqlalchemy import text

    from app.services import queue

    comms = make.user("comms", team="communications")
    ids = [_open(app, db, comms, f"Quokka case {n}" if n % 3 == 0 else f"Case {n}",
                 post=PostInput(platform="x", url=f"https://x.com/a/status/{100 + n}",
                                text="quokka, quokka! <b>quokka</b>" if n % 2 == 0 else "one quokka seen"))
           for n in range(12)]
    actor = db.get(User, comms.id)

    def ranked(*settings: str) -> list[int]:
        for setting in settings:
            db.execute(text(f"SET LOCAL {setting}"))
        page = queue.page(db, queue.QueueFilters(q="quokka", status="all", sort="relevance"), actor)
        db.rollback()
        return [row.incident.id for row in page.rows]

    by_index = ranked("enable_indexscan = off", "enable_seqscan = off")  # GIN bitmap, then sorted
    by_walk = ranked("enable_bitmapscan = off", "enable_seqscan = off")  # primary key, newest first
    assert sorted(by_index) == sorted(ids)
    assert by_walk == by_index
    assert db.get(Incident, by_index[0]).posts[0].text.count("quokka") == 3  # ranked, not merely newest first
