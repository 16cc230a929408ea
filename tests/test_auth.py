"""Signing in and out: generic errors, throttling, CSRF, and cookies that die with the session."""

import time

from app.extensions import db
from app.models import AuditEvent, LoginFailure, User
from app.services.users import GENERIC_LOGIN_ERROR
from tests.conftest import PASSWORD, csrf_token, login


def test_correct_password_signs_in_and_lands_on_incident_list(client, make):
    user = make.user("comms")
    response = login(client, user)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/incidents")
    assert client.get("/incidents").status_code == 200


def test_wrong_password_and_unknown_account_get_the_same_generic_message(client, make):
    user = make.user("comms")
    wrong = login(client, user, password="not the password at all")
    token = csrf_token(client, "/login")
    unknown = client.post("/login", data={"email": "nobody@example.org", "password": "whatever it is",
                                          "csrf_token": token})
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert GENERIC_LOGIN_ERROR in response.get_data(as_text=True)
    assert client.get("/incidents").status_code == 302  # still signed out


def test_unknown_account_costs_the_same_order_of_time_as_a_known_one(client, make, production_password_hashing):
    from app.services.passwords import hash_password

    user = make.user("comms", password_hash=hash_password(PASSWORD))  # stored at production strength, as for real
    token = csrf_token(client, "/login")

    def timed(email: str) -> float:
        start = time.perf_counter()
        client.post("/login", data={"email": email, "password": "wrong password here", "csrf_token": token})
        return time.perf_counter() - start

    # At production strength (the suite's own cheap hashing would make both answers take only the queries' time).
    known = min(timed(user.email) for _ in range(2))
    unknown = min(timed("ghost@example.org") for _ in range(2))
    # Both pay for one argon2 verification; an early return for unknown accounts would be ~100x faster.
    assert unknown > known / 4


def test_repeated_failures_are_throttled_even_with_the_right_password(client, make):
    user = make.user("comms")
    for _ in range(5):
        assert login(client, user, password="wrong wrong wrong").status_code == 401
    throttled = login(client, user)
    assert throttled.status_code == 429
    assert "Too many failed sign-in attempts" in throttled.get_data(as_text=True)
    assert db.session.query(LoginFailure).filter_by(email=user.email).count() == 5


def test_failed_sign_ins_are_audited(client, make):
    user = make.user("comms")
    login(client, user, password="wrong wrong wrong")
    actions = [e.action for e in db.session.query(AuditEvent).order_by(AuditEvent.id)]
    assert "login.failed" in actions


def test_disabled_account_cannot_sign_in(client, make):
    user = make.user("comms", active=False)
    assert login(client, user).status_code == 401


def test_login_form_without_csrf_token_is_refused(client, make):
    user = make.user("comms")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)


def test_any_form_without_csrf_token_is_refused(client, signed_in):
    signed_in("comms", team="communications")
    response = client.post("/incidents/new", data={"workflow": "problem-solving", "title": "x"})
    assert response.status_code == 400
    assert client.post("/logout").status_code == 400


def test_logout_needs_post(client, signed_in):
    signed_in("comms")
    assert client.get("/logout").status_code == 405


def test_replayed_cookie_after_logout_is_refused(client, app, signed_in):
    signed_in("comms")
    stolen = client.get_cookie("session").value
    token = csrf_token(client, "/incidents")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    response = replay.get("/incidents")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_password_change_ends_other_sessions(client, app, signed_in):
    user = signed_in("comms")
    other_device = app.test_client()
    login(other_device, user)
    assert other_device.get("/incidents").status_code == 200
    token = csrf_token(client, "/account/password")
    new = "a much better passphrase 42"
    response = client.post("/account/password", data={"current": PASSWORD, "new": new, "confirm": new,
                                                      "csrf_token": token})
    assert response.status_code == 302
    assert other_device.get("/incidents").status_code == 302
    assert login(client, db.session.get(User, user.id), password=new).status_code == 302


def test_password_change_with_a_short_password_says_what_to_fix(client, signed_in):
    signed_in("comms")
    token = csrf_token(client, "/account/password")
    response = client.post("/account/password", data={"current": PASSWORD, "new": "short", "confirm": "short",
                                                      "csrf_token": token})
    assert response.status_code == 400
    assert "at least 12 characters" in response.get_data(as_text=True)


def test_sign_in_does_not_redirect_off_site(client, make):
    user = make.user("comms")
    token = csrf_token(client, "/login")
    response = client.post("/login?next=//evil.example/steal", data={"email": user.email, "password": PASSWORD,
                                                                      "csrf_token": token})
    assert response.headers["Location"] == "/incidents"


def test_idle_session_times_out(client, app, signed_in):
    signed_in("comms")
    with client.session_transaction() as session:
        session["seen_at"] = time.time() - 31 * 60
    response = client.get("/incidents")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_last_seen_time_is_rewritten_at_most_once_a_minute(client, app, signed_in):
    from app.auth.routes import SEEN_AT_RESOLUTION_SECONDS

    signed_in("comms")
    client.get("/incidents")  # as a browser's first page after signing in: the session gets its CSRF secret
    with client.session_transaction() as session:
        session["seen_at"] = time.time() - 5
        seen = session["seen_at"]
    response = client.get("/incidents")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers  # nothing new to say
    with client.session_transaction() as session:
        assert session["seen_at"] == seen
        session["seen_at"] = time.time() - SEEN_AT_RESOLUTION_SECONDS - 1
    response = client.get("/incidents")
    assert response.status_code == 200 and "Set-Cookie" in response.headers
    with client.session_transaction() as session:
        assert time.time() - session["seen_at"] < 5


def test_session_cookie_is_httponly_and_samesite_lax(client, make):
    user = make.user("comms")
    response = login(client, user)
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_passwords_are_stored_as_argon2id_with_owasp_parameters(app, db, production_password_hashing):
    from app.services.passwords import hash_password

    encoded = hash_password("a long enough password")
    assert encoded.startswith("$argon2id$")
    params = dict(p.split("=") for p in encoded.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2 and int(params["p"]) == 1


def test_one_address_trying_many_accounts_is_throttled(client, make):
    for n in range(20):
        token = csrf_token(client, "/login")
        client.post("/login", data={"email": f"guess{n}@example.org", "password": "guessing passwords",
                                    "csrf_token": token})
    user = make.user("comms")
    assert login(client, user).status_code == 429


def test_common_passwords_are_refused_and_long_unicode_ones_welcome():
    from app.services.passwords import password_problem

    assert "commonly used" in password_problem("password1234")
    assert "commonly used" in password_problem("Qwertyuiop123")
    assert password_problem("ünïcödé pässwörd ✓ with spaces") is None
    assert password_problem("x" * 200 + "abcd") is None


def test_responses_vary_on_cookie(client):
    assert "Cookie" in client.get("/login").headers.get("Vary", "")
