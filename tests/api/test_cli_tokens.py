"""breachdesk tokens create/list/revoke, run as a script would run them, against a fresh SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app
from app.extensions import db as database


@pytest.fixture
def cli(cli_env):  # type: ignore[no-untyped-def]
    run = cli_env
    for email, role in (("admin@example.org", "admin"), ("rep@example.org", "rep")):
        made = run("users", "create", email, "--name", role.title(), "--role", role, "--password-stdin",
                   stdin="a long enough password\n")
        assert made.returncode == 0, made.stderr
    return run


def _call(url: str, token: str, tmp_path: Path) -> int:
    app = create_app(instance_path=tmp_path / "instance", database_url=url, secret_key="x")
    try:
        return app.test_client().get("/api/v1/workflows", headers={"Authorization": f"Bearer {token}"}).status_code
    finally:
        database.session.remove()


def test_create_list_revoke(cli, tmp_path):
    created = cli("tokens", "create", "--user", "Admin@Example.org", "--name", "nightly export")
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bdk_") and len(lines[0]) > 40  # only the token
    token = lines[0]
    second = cli("tokens", "create", "--user", "rep@example.org").stdout.strip()
    assert second != token

    listing = cli("tokens", "list")
    assert listing.returncode == 0
    assert "admin@example.org" in listing.stdout and "nightly export" in listing.stdout
    assert "rep@example.org" in listing.stdout and token not in listing.stdout and token[:8] in listing.stdout
    assert "last used never" in listing.stdout
    only_rep = cli("tokens", "list", "--user", "rep@example.org").stdout
    assert "rep@example.org" in only_rep and "admin@example.org" not in only_rep

    assert _call(cli.url, token, tmp_path) == 200
    assert "last used never" not in cli("tokens", "list", "--user", "admin@example.org").stdout

    token_id = next(line.split()[0] for line in listing.stdout.splitlines() if "nightly export" in line)
    revoked = cli("tokens", "revoke", token_id)
    assert revoked.returncode == 0 and f"Revoked API token {token_id}" in revoked.stdout
    assert "revoked" in cli("tokens", "list", "--user", "admin@example.org").stdout
    assert _call(cli.url, token, tmp_path) == 401
    again = cli("tokens", "revoke", token_id)
    assert again.returncode == 1 and "already revoked" in again.stderr


def test_refusals_say_why(cli):
    unknown = cli("tokens", "create", "--user", "nobody@example.org")
    assert unknown.returncode == 1 and "no account for nobody@example.org" in unknown.stderr and not unknown.stdout
    assert cli("tokens", "revoke", "999").returncode == 1
    cli("users", "disable", "rep@example.org")
    disabled = cli("tokens", "create", "--user", "rep@example.org")
    assert disabled.returncode == 1 and "disabled" in disabled.stderr
    assert "No API tokens" in cli("tokens", "list").stdout
    assert cli("tokens", "create").returncode == 2  # --user is required
