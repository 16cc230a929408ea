from tests.conftest import csrf_token


def test_sign_in_page_is_served(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert b'name="email"' in response.data and b'name="password"' in response.data


def test_signed_in_user_sees_incident_list(client, signed_in):
    signed_in("comms", team="communications")
    response = client.get("/incidents")
    assert response.status_code == 200
    assert b"No incidents match" in response.data


def test_new_incident_flow(client, signed_in, app):
    signed_in("comms", team="communications")
    token = csrf_token(client, "/incidents/new")
    response = client.post("/incidents/new", data={"workflow": "problem-solving", "title": "A rude post",
                                                   "severity": "low", "calendar": "scotland",
                                                   "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.headers["Location"])
    assert b"A rude post" in page.data
    assert b"Record triage" in page.data
