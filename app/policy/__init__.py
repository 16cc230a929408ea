"""Policy clause catalogues: versioned by effective date, cited as ``catalogue:number``.

A clause is cited as it was worded on the date of the post, so each citation records the catalogue
version in force on that date.

A clause may also carry ``signals``: the phrases, hints, regular expressions, example posts and
negative phrases that ``app.policy.suggest`` uses to propose it for a post (docs/suggestions.md).
They are read, checked and compiled here, so a bad regular expression stops loading with the
file and line like any other catalogue mistake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from app.workflow.source import DefinitionError, Document, load_document

APPLIES_TO = ("contributors", "officers", "both")
SEVERITIES = ("low", "medium", "high", "critical")
SIGNAL_KEYS = ("reason", "phrases", "patterns", "hints", "hint_patterns", "examples", "negative", "pii", "weight")
PII_KINDS = ("nhs_number", "date_of_birth", "hospital_number", "postcode", "phone", "email")  # app.pii.KINDS


@dataclass(frozen=True)
class Phrase:
    """A plain-words phrase from a catalogue, compiled to a case-insensitive whole-word pattern."""

    text: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Signals:
    """What in a post points at a clause. Empty signals never suggest anything."""

    reason: str = ""  # the start of the sentence shown with a suggestion: "mentions contact with the media"
    phrases: tuple[Phrase, ...] = ()  # any one is enough
    hints: tuple[Phrase, ...] = ()  # weak on their own: two are needed (or a hint plus something else)
    patterns: tuple[re.Pattern[str], ...] = ()  # regular expressions, case-insensitive; as strong as a phrase
    hint_patterns: tuple[re.Pattern[str], ...] = ()  # regular expressions as weak as a hint
    examples: tuple[str, ...] = ()  # short example posts; a post that reads like one scores
    negative: tuple[Phrase, ...] = ()  # phrases that mean the clause is (probably) not broken
    pii: tuple[str, ...] = ()  # PII kinds (app.pii) that suggest this clause
    weight: float = 1.0

    def __bool__(self) -> bool:
        return bool(self.phrases or self.hints or self.patterns or self.hint_patterns or self.examples or self.pii)


def compile_phrase(text: str) -> re.Pattern[str]:
    """A catalogue phrase as a regular expression.

    Case-insensitive; words separated by any spaces or hyphens; an apostrophe is optional; a ``*``
    that ends a word straight after a letter or digit matches any ending ("incompeten*"); every
    other character is literal (so "f***" and emojis work). Whole words only where the phrase
    starts or ends with a letter or digit.
    """
    parts: list[str] = []
    cores: list[str] = []
    for word in text.strip().lower().split():
        wildcard = len(word) > 1 and word.endswith("*") and word[-2].isalnum()
        core = word[:-1] if wildcard else word
        cores.append(core)
        piece = "".join("'?" if c in "'\u2019" else re.escape(c) for c in core)
        parts.append(piece + (r"\w*" if wildcard else ""))
    if not parts:
        return re.compile("")  # refused by the caller: it matches everything
    start = r"\b" if cores[0][:1].isalnum() else ""
    end = r"\b" if cores[-1][-1:].isalnum() else ""
    return re.compile(start + r"[\s\-]+".join(parts) + end, re.IGNORECASE)


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
    signals: Signals = field(default_factory=Signals, compare=False)

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
        if number in version.clauses:
            return version.clauses[number]
        # Not in force on that date (added later or since withdrawn): the nearest wording there is.
        def distance(candidate: CatalogueVersion) -> int:
            return abs((candidate.effective_from - (on or candidate.effective_from)).days)

        for candidate in sorted(catalogue.versions, key=distance):
            if number in candidate.clauses:
                return candidate.clauses[number]
        raise KeyError(clause_key)

    def all_current(self) -> list[Clause]:
        return [c for cat in self.by_key.values() for c in cat.current.clauses.values()]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.by_key.values())


def _text(doc: Document, mapping: dict, key: str, *where: str | int) -> str:
    value = mapping.get(key)
    if not isinstance(value, str | int | float) or str(value).strip() == "":
        raise doc.error(f"'{key}' is missing or empty", *where)
    return str(value)


def _string_list(doc: Document, raw: dict, key: str, *where: str | int) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise doc.error(f"signals '{key}' must be a list", *where, key)
    items: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise doc.error(f"signals '{key}' entry {i + 1} must be non-empty text", *where, key, i)
        items.append(item.strip())
    return tuple(items)


def _phrases(doc: Document, raw: dict, key: str, *where: str | int) -> tuple[Phrase, ...]:
    phrases = []
    for i, text in enumerate(_string_list(doc, raw, key, *where)):
        pattern = compile_phrase(text)
        if pattern.search(""):
            raise doc.error(f"signals '{key}' entry {i + 1} would match any text", *where, key, i)
        phrases.append(Phrase(text=text, pattern=pattern))
    return tuple(phrases)


def _patterns(doc: Document, raw: dict, key: str, *where: str | int) -> tuple[re.Pattern[str], ...]:
    patterns: list[re.Pattern[str]] = []
    for i, text in enumerate(_string_list(doc, raw, key, *where)):
        try:
            compiled = re.compile(text, re.IGNORECASE)
        except re.error as exc:
            raise doc.error(
                f"signals '{key}' entry {i + 1} is not a valid regular expression: {exc.msg} (at position {exc.pos})",
                *where, key, i,
            ) from None
        if compiled.search(""):
            raise doc.error(f"signals '{key}' entry {i + 1} matches empty text, so it would match every post",
                            *where, key, i)
        patterns.append(compiled)
    return tuple(patterns)


def load_signals(doc: Document, raw: object, *where: str | int) -> Signals:
    """Read and check one clause's ``signals`` mapping; regular expressions are compiled here."""
    if raw is None:
        return Signals()
    if not isinstance(raw, dict):
        raise doc.error("'signals' must be a mapping (reason, phrases, hints, patterns, examples, ...)", *where)
    for key in raw:
        if key not in SIGNAL_KEYS:
            raise doc.error(f"signals has no key '{key}' (it takes: {', '.join(SIGNAL_KEYS)})", *where, str(key))
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise doc.error("signals need a 'reason': a few words saying what the signals point at", *where)
    pii = _string_list(doc, raw, "pii", *where)
    for i, kind in enumerate(pii):
        if kind not in PII_KINDS:
            raise doc.error(f"unknown PII kind '{kind}'; the kinds are {', '.join(PII_KINDS)}", *where, "pii", i)
    weight = raw.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight <= 10:
        raise doc.error("signals 'weight' must be a number above 0 and at most 10", *where, "weight")
    return Signals(
        reason=reason.strip(),
        phrases=_phrases(doc, raw, "phrases", *where),
        hints=_phrases(doc, raw, "hints", *where),
        patterns=_patterns(doc, raw, "patterns", *where),
        hint_patterns=_patterns(doc, raw, "hint_patterns", *where),
        examples=_string_list(doc, raw, "examples", *where),
        negative=_phrases(doc, raw, "negative", *where),
        pii=pii,
        weight=float(weight),
    )


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
                signals=load_signals(doc, c.get("signals"), *where, "signals"),
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
