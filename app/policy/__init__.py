"""Policy clause catalogues: versioned by effective date, cited as ``catalogue:number``.

A clause is cited as it was worded on the date of the post, so each citation records the catalogue
version in force on that date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from app.workflow.source import DefinitionError, Document, load_document

APPLIES_TO = ("contributors", "officers", "both")
SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Clause:
    key: str  # "rcr:2.8"
    catalogue: str
    number: str
    title: str
    summary: str
    applies_to: str
    severity: str
    path: str
    version: str

    @property
    def label(self) -> str:
        return f"{self.catalogue.upper()} {self.number} {self.title}"


@dataclass(frozen=True)
class CatalogueVersion:
    version: str
    effective_from: date
    clauses: dict[str, Clause]


@dataclass(frozen=True)
class Catalogue:
    key: str
    title: str
    source: str
    versions: tuple[CatalogueVersion, ...]  # oldest first

    def version_on(self, day: date) -> CatalogueVersion:
        """The version in force on ``day``; before the first version, the first one."""
        chosen = self.versions[0]
        for version in self.versions:
            if version.effective_from <= day:
                chosen = version
        return chosen

    @property
    def current(self) -> CatalogueVersion:
        return self.versions[-1]


class Catalogues:
    """All catalogues, with lookups by clause key."""

    def __init__(self, catalogues: dict[str, Catalogue]) -> None:
        self.by_key = catalogues

    def known(self, clause_key: str) -> bool:
        catalogue_key, _, number = clause_key.partition(":")
        catalogue = self.by_key.get(catalogue_key)
        return catalogue is not None and any(number in v.clauses for v in catalogue.versions)

    def clause(self, clause_key: str, on: date | None = None) -> Clause:
        """The clause as worded on ``on`` (today's wording when not given). KeyError if unknown."""
        catalogue_key, _, number = clause_key.partition(":")
        catalogue = self.by_key[catalogue_key]
        version = catalogue.version_on(on) if on else catalogue.current
        return version.clauses[number]

    def all_current(self) -> list[Clause]:
        return [c for cat in self.by_key.values() for c in cat.current.clauses.values()]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.by_key.values())


def _text(doc: Document, mapping: dict, key: str, *where: str | int) -> str:
    value = mapping.get(key)
    if not isinstance(value, str | int | float) or str(value).strip() == "":
        raise doc.error(f"'{key}' is missing or empty", *where)
    return str(value)


def load_catalogue(path: Path) -> Catalogue:
    doc = load_document(path)
    data = doc.data
    key = _text(doc, data, "key")
    if not key.isidentifier() or key != key.lower():
        raise doc.error(f"catalogue key '{key}' must be lower-case letters, digits and underscores", "key")
    versions_raw = data.get("versions")
    if not isinstance(versions_raw, list) or not versions_raw:
        raise doc.error("'versions' must be a list with at least one version", "versions")
    versions: list[CatalogueVersion] = []
    for vi, raw in enumerate(versions_raw):
        if not isinstance(raw, dict):
            raise doc.error("each version must be a mapping", "versions", vi)
        label = _text(doc, raw, "version", "versions", vi)
        effective = raw.get("effective_from")
        if not isinstance(effective, date):
            raise doc.error("'effective_from' must be a date like 2024-01-01", "versions", vi, "effective_from")
        if versions and effective <= versions[-1].effective_from:
            raise doc.error("versions must be listed oldest first with later dates", "versions", vi)
        clauses: dict[str, Clause] = {}
        for ci, c in enumerate(raw.get("clauses") or []):
            where = ("versions", vi, "clauses", ci)
            if not isinstance(c, dict):
                raise doc.error("each clause must be a mapping", *where)
            number = c.get("number")
            if not isinstance(number, str):
                raise doc.error(
                    "clause 'number' must be quoted text (write \"2.10\", not 2.10, which YAML reads as 2.1)",
                    *where,
                )
            if number in clauses:
                raise doc.error(f"clause {number} is listed twice in version {label}", *where)
            applies_to = _text(doc, c, "applies_to", *where)
            severity = _text(doc, c, "severity", *where)
            if applies_to not in APPLIES_TO:
                raise doc.error(f"applies_to must be one of {', '.join(APPLIES_TO)}", *where, "applies_to")
            if severity not in SEVERITIES:
                raise doc.error(f"severity must be one of {', '.join(SEVERITIES)}", *where, "severity")
            clauses[number] = Clause(
                key=f"{key}:{number}",
                catalogue=key,
                number=number,
                title=_text(doc, c, "title", *where),
                summary=_text(doc, c, "summary", *where),
                applies_to=applies_to,
                severity=severity,
                path=_text(doc, c, "path", *where),
                version=label,
            )
        if not clauses:
            raise doc.error(f"version {label} lists no clauses", "versions", vi)
        versions.append(CatalogueVersion(version=label, effective_from=effective, clauses=clauses))
    return Catalogue(
        key=key, title=_text(doc, data, "title"), source=str(data.get("source", "")), versions=tuple(versions)
    )


def load_catalogues(directory: Path) -> Catalogues:
    if not directory.is_dir():
        raise DefinitionError(directory, None, "the policy catalogue folder does not exist")
    catalogues: dict[str, Catalogue] = {}
    for path in sorted(directory.glob("*.yaml")):
        catalogue = load_catalogue(path)
        if catalogue.key in catalogues:
            raise DefinitionError(path, 1, f"another catalogue already uses the key '{catalogue.key}'")
        catalogues[catalogue.key] = catalogue
    return Catalogues(catalogues)
