"""Redaction that removes: the text that goes out never contains what was redacted.

A ``Redactor`` is built from the people to remove (their names and the words of their names, e-mail
addresses, social handles, membership numbers) and optionally the patient-identifying and contact
details ``app.pii.scan`` finds. ``apply`` returns new text with each match *replaced* by a label such as
``[redacted]`` — there is no overlay and nothing of the original is kept in the output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.models import Person
from app.pii import KIND_LABELS, scan

# An @mention in post text: a handle the redactor does not know to be the subject's is a third party's.
MENTION = re.compile(r"(?<![\w@.])@[A-Za-z0-9_][A-Za-z0-9_.]{1,60}")


def person_terms(person: Person, membership_number: str | None = None) -> list[str]:
    """What identifies a person in free text: the full name, each word of it (3+ letters), e-mail, handles."""
    terms: list[str] = []
    name = (person.name or "").strip()
    if name:
        terms.append(name)
        terms.extend(word for word in re.split(r"[\s,.]+", name) if len(word) >= 3)
    if person.email:
        terms.append(person.email)
    for handle in person.handles:
        bare = handle.handle.lstrip("@")
        if len(bare) >= 3:
            terms.extend([bare, "@" + bare])
    if membership_number:
        terms.append(membership_number)
    return terms


def _pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    unique = sorted({t for t in (t.strip() for t in terms) if len(t) >= 3}, key=len, reverse=True)
    if not unique:
        return None
    parts = []
    for term in unique:
        body = r"\s+".join(re.escape(word) for word in term.split())
        start = r"(?<!\w)" if term[0].isalnum() or term[0] == "_" else ""
        end = r"(?!\w)" if term[-1].isalnum() or term[-1] == "_" else ""
        parts.append(start + body + end)
    return re.compile("|".join(parts), re.IGNORECASE)


@dataclass
class Redactor:
    """Replace the given terms (and optionally PII hits and unknown @mentions) in text."""

    terms: list[str] = field(default_factory=list)
    label: str = "[redacted]"
    pii: bool = False
    # Handles (without @) that may stay, e.g. the data subject's own in their subject access archive.
    keep_mentions: set[str] | None = None
    # Terms that must stay even if another rule would catch them (the subject's own e-mail in a SAR).
    keep: set[str] = field(default_factory=set)
    count: int = 0

    def __post_init__(self) -> None:
        self._pattern = _pattern(self.terms)
        self._keep = {k.lower() for k in self.keep}

    def apply(self, text: str | None) -> str | None:
        if not text:
            return text
        out = text
        if self.pii:
            pieces, position = [], 0
            for hit in scan(out):
                if hit.text.lower() in self._keep:
                    continue
                pieces.append(out[position:hit.start])
                pieces.append(f"[redacted: {KIND_LABELS[hit.kind]}]")
                position = hit.end
                self.count += 1
            pieces.append(out[position:])
            out = "".join(pieces)
        if self._pattern is not None:
            out, replaced = self._pattern.subn(self.label, out)
            self.count += replaced
        if self.keep_mentions is not None:
            keep = {h.lower() for h in self.keep_mentions}

            def mention(match: re.Match[str]) -> str:
                if match.group(0)[1:].lower() in keep:
                    return match.group(0)
                self.count += 1
                return self.label

            out = MENTION.sub(mention, out)
        return out

    def apply_json(self, value: Any) -> Any:
        """The same replacement inside a JSON-shaped value (strings in dicts and lists; keys are kept)."""
        if isinstance(value, str):
            return self.apply(value)
        if isinstance(value, dict):
            return {k: self.apply_json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.apply_json(v) for v in value]
        return value
