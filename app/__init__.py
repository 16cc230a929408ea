"""Breachdesk: an organisational breach and escalation case tracker."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from flask import Flask

from app.config import Settings
from app.errors import StartupError

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["SERVER_GC_THRESHOLDS", "StartupError", "create_app", "freeze_startup_objects"]


# The garbage collector's thresholds in a server process (gen0 allocations, gen1 and gen2 collections between
# collections of the next generation; Python's default is 700, 10, 10).
SERVER_GC_THRESHOLDS = (10_000, 10, 10)


def freeze_startup_objects() -> None:
    """Call once the app is built, in a long-running server process. What start-up made (models, compiled
    templates, the workflow files) lives as long as the process; frozen, it is out of the garbage collector's
    reach, so the full collections a busy worker runs scan only what requests allocate (bench/RESULTS.md run 17:
    the queue page's p99 under load 108 -> 65 ms). And collections run less often (``SERVER_GC_THRESHOLDS``): a
    request allocates tens of thousands of short-lived objects, so at Python's default a dashboard request set off
    about nine young collections, and every fifteenth a full one of up to 40 ms (run 20: 28 full collections in 400
    dashboards; with these thresholds 2, and the administrator's dashboard p95 156 -> 138 ms). Nearly all of a
    request's objects are freed by reference counting alone, so memory does not grow. Not for tests, which build
    many apps in one process."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVER_GC_THRESHOLDS)


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("policies/*.yaml")]):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


_definitions: dict[tuple[str, str], tuple[Any, Any]] = {}


def load_definitions(folder: Path):  # type: ignore[no-untyped-def]
    """The policy catalogues and workflows in ``folder``, parsed once per distinct content.

    Parsing and checking every file costs about a third of a second; an app made again from the same
    files (a test, a CLI command in the same process) reuses the result. A broken file is never cached.
    """
    from app.policy import load_catalogues
    from app.workflow.registry import load_registry

    key = (str(folder.resolve()), _fingerprint(folder) if folder.is_dir() else "")
    if key not in _definitions:
        catalogues = load_catalogues(folder / "policies")
        _definitions[key] = (catalogues, load_registry(folder, catalogues))
    return _definitions[key]


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
        try:
            settings = Settings.from_env(instance)
        except ValueError as error:  # a BREACHDESK_* variable with a value we cannot use
            raise StartupError(str(error)) from None
    for key, value in overrides.items():
        setattr(settings, key, value)
    if settings.evidence_path is None:
        settings.evidence_path = instance / "evidence"
    app.config.from_mapping(settings.to_flask())

    from app.extensions import check_connection, csrf, db, login_manager

    # Data files first: a broken workflow or catalogue must stop start-up before anything serves.
    catalogues, registry = load_definitions(settings.workflows_path)
    app.extensions["breachdesk.catalogues"] = catalogues
    app.extensions["breachdesk.workflows"] = registry

    db.init_app(app, settings.database_url, sqlite_cache_mb=settings.sqlite_cache_mb)
    assert db.engine is not None
    check_connection(db.engine)
    csrf.init_app(app)
    login_manager.init_app(app)

    from app import web

    web.init_app(app)
    return app
