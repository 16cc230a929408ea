"""Optional TOTP second factor for administrators and the Director of Communications."""

import re
from datetime import UTC, datetime, timedelta

import pyotp

from app.clock import frozen_at
from app.models import User
from tests.conftest import PASSWORD, csrf_token, login


def _enrol(client, db, user_id):
    page = client.get("/account/two-factor").get_data(as_text=True)
    secret = re.search(r'name="secret" type="hidden" value="([A-Z2-7]+)"', page).group(1)
    token = csrf_token(client, "/account/two-factor")
    response = client.post("/account/two-factor", data={"csrf_token": token, "secret": secret,
                                                        "code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    assert db.get(User, user_id).totp_secret == secret
    return secret


def test_admin_turns_on_two_factor_and_then_needs_a_code_to_sign_in(client, app, db, signed_in):
    admin = signed_in("admin")
    secret = _enrol(client, db, admin.id)
    fresh = app.test_client()
    response = login(fresh, db.get(User, admin.id))
    assert response.status_code == 302 and "/login/code" in response.headers["Location"]
    assert fresh.get("/incidents").status_code == 302  # not signed in yet
    token = csrf_token(fresh, "/login/code")
    wrong = fresh.post("/login/code", data={"csrf_token": token, "code": "000000"})
    assert wrong.status_code == 401 and "does not match" in wrong.get_data(as_text=True)
    next_step = datetime.now(UTC) + timedelta(seconds=30)  # enrolment used up the current step's code
    with frozen_at(next_step):
        right = fresh.post("/login/code", data={"csrf_token": token, "code": pyotp.TOTP(secret).at(next_step)})
        assert right.status_code == 302
        assert fresh.get("/incidents").status_code == 200


def test_a_code_cannot_be_used_twice(client, app, db, signed_in):
    admin = signed_in("admin")
    secret = _enrol(client, db, admin.id)
    code = pyotp.TOTP(secret).now()  # the enrolment already used this step
    other = app.test_client()
    login(other, db.get(User, admin.id))
    token = csrf_token(other, "/login/code")
    assert other.post("/login/code", data={"csrf_token": token, "code": code}).status_code == 401


def test_a_pending_code_step_expires(client, app, db, signed_in):
    admin = signed_in("admin")
    secret = _enrol(client, db, admin.id)
    later = app.test_client()
    login(later, db.get(User, admin.id))
    token = csrf_token(later, "/login/code")
    with frozen_at(datetime.now(UTC) + timedelta(minutes=10)):
        response = later.post("/login/code", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")


def test_other_roles_are_not_offered_two_factor(client, signed_in):
    signed_in("comms")
    assert client.get("/account/two-factor").status_code == 404


def test_enrolment_with_a_wrong_code_says_so_and_changes_nothing(client, db, signed_in):
    director = signed_in("director_of_comms")
    token = csrf_token(client, "/account/two-factor")
    response = client.post("/account/two-factor", data={"csrf_token": token, "secret": pyotp.random_base32(),
                                                        "code": "123456"})
    assert response.status_code == 400 and "does not match" in response.get_data(as_text=True)
    assert db.get(User, director.id).totp_secret is None


def test_replayed_cookie_after_account_disable_is_refused(client, app, db, signed_in):
    from app.services.users import disable_user

    user = signed_in("comms")
    cookie = client.get_cookie("session").value
    disable_user(db, actor=None, user=db.get(User, user.id))
    db.commit()
    replay = app.test_client()
    replay.set_cookie("session", cookie)
    assert replay.get("/incidents").status_code == 302


def test_a_session_planted_before_sign_in_is_not_kept(client, make):
    """Session fixation: whatever the visitor's session held before sign-in is discarded."""
    user = make.user("comms")
    with client.session_transaction() as planted:
        planted["planted"] = "attacker-chosen"
    assert login(client, user, PASSWORD).status_code == 302
    with client.session_transaction() as after:
        assert "planted" not in after
