"""Breachdesk: an organisational breach and escalation case tracker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from app.config import Settings
from app.errors import StartupError

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["StartupError", "create_app"]


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Build the application. Raises StartupError (one readable line) for bad configuration or data."""
    app = Flask(
        __name__,
        instance_path=str(Path(overrides.pop("instance_path", ROOT / "instance")).resolve()),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    if settings is None:
        settings = Settings.from_env(instance)
    for key, value in overrides.items():
        setattr(settings, key, value)
    if settings.evidence_path is None:
        settings.evidence_path = instance / "evidence"
    app.config.from_mapping(settings.to_flask())

    from app.extensions import check_connection, csrf, db, login_manager
    from app.policy import load_catalogues
    from app.workflow.registry import load_registry

    # Data files first: a broken workflow or catalogue must stop start-up before anything serves.
    catalogues = load_catalogues(settings.workflows_path / "policies")
    app.extensions["breachdesk.catalogues"] = catalogues
    app.extensions["breachdesk.workflows"] = load_registry(settings.workflows_path, catalogues)

    db.init_app(app, settings.database_url)
    assert db.engine is not None
    check_connection(db.engine)
    csrf.init_app(app)
    login_manager.init_app(app)

    from app import web

    web.init_app(app)
    return app
