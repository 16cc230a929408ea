"""Suggest the policy clauses a captured post may breach, each with a reason a person can check.

The knowledge (phrases, hints, regular expressions, example posts, negative phrases and which PII
kinds point at a clause) lives in the catalogue files, under each clause's ``signals``; this
module only scores a post against them. Suggestions are proposals: the person triaging accepts
or rejects each one, and nothing here changes an incident. docs/suggestions.md explains the
scoring and how to add signals.

Pure: no Flask, no database, no network, no model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from app.pii import KIND_LABELS, PiiHit, kinds_sentence, scan
from app.policy import Catalogues, Clause, Phrase, Signals

# --- scoring constants (the knowledge is in the catalogues; these only say how much each kind of
# evidence counts). A clause is suggested when its score reaches THRESHOLD.
THRESHOLD = 1.0
PHRASE = 1.0  # the first phrase or pattern that matches
MORE_EVIDENCE = 0.25  # each further distinct phrase or pattern, up to MAX_EXTRA
MAX_EXTRA = 0.75
HINT = 0.5  # each distinct hint, up to MAX_HINTS of them
MAX_HINTS = 3
EXAMPLE = 1.5  # times the similarity to the nearest example post...
EXAMPLE_MIN_SIMILARITY = 0.45  # ...when it is at least this, with at least two words in common
PII = 3.0  # a PII kind the clause lists
NEGATIVE_FACTOR = 0.2  # the score is multiplied by this when a negative phrase is present
CONTEXT_FACTOR = 0.5  # evidence found only in the context counts this much
FUZZY_MIN_LENGTH = 7  # one-word phrases at least this long also match with one typo


@dataclass(frozen=True)
class Suggestion:
    clause: str  # "rcr:2.13"
    reason: str  # "mentions contact with a journalist or the media: 'journo from the Telegraph'"
    score: float

    def as_dict(self) -> dict[str, str]:
        """The API shape: ``{"clause", "reason"}``."""
        return {"clause": self.clause, "reason": self.reason}


# --- text helpers -------------------------------------------------------------------------------

_STOPWORDS = frozenset(
    {
        "a", "about", "above", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
        "because", "been", "being", "but", "by", "can", "cant", "could", "did", "do", "does", "doing", "dont", "down",
        "for", "from", "get", "got", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how",
        "i", "im", "if", "in", "into", "is", "it", "its", "ive", "just", "me", "more", "most", "my", "no", "nor", "not",
        "now", "of", "off", "on", "once", "only", "or", "other", "our", "out", "over", "own", "same", "she", "so",
        "some", "such", "than", "that", "thats", "the", "their", "them", "then", "there", "these", "they", "this",
        "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where",
        "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "youre", "lol", "tbh",
        "today", "really"
    }
)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def _normalise(text: str) -> str:
    """Same length as ``text``, so match positions can quote the original."""
    return text.replace("\u2019", "'").replace("\u2018", "'").replace("\u00a0", " ")


def _stem(word: str) -> str:
    word = word.replace("'", "")
    for suffix in ("ing", "ed", "es", "ly", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _content_words(text: str) -> frozenset[str]:
    return frozenset(
        _stem(w) for w in _WORD.findall(text.lower()) if len(w) > 2 and w.replace("'", "") not in _STOPWORDS
    )


@lru_cache(maxsize=4096)
def _example_words(example: str) -> frozenset[str]:
    """Content words of a catalogue example (cached: examples are catalogue text, never post text)."""
    return _content_words(example)


def _close(a: str, b: str) -> bool:
    """Optimal-string-alignment distance between ``a`` and ``b`` is at most one."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        if len(diffs) != 2:
            return False
        first, second = diffs
        return second == first + 1 and a[first] == b[second] and a[second] == b[first]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _fuzzy_form(phrase: Phrase) -> tuple[str, bool] | None:
    """(core, is_stem) for one-word phrases long enough to match with a typo; else None."""
    text = phrase.text.lower()
    if " " in text or "-" in text:
        return None
    stem = text.endswith("*")
    core = text.rstrip("*")
    if len(core) < FUZZY_MIN_LENGTH or not core.isalpha():
        return None
    return core, stem


def _tokens(text: str) -> dict[str, tuple[int, int]]:
    """Each distinct lower-case word of ``text`` and where it first appears."""
    tokens: dict[str, tuple[int, int]] = {}
    for match in re.finditer(r"[A-Za-z]+", text):
        tokens.setdefault(match.group().lower(), match.span())
    return tokens


def _find(phrase: Phrase, text: str, tokens: dict[str, tuple[int, int]]) -> tuple[int, int] | None:
    """Where ``phrase`` first matches, allowing one typo in long single words."""
    match = phrase.pattern.search(text)
    if match:
        return match.span()
    form = _fuzzy_form(phrase)
    if form is None:
        return None
    core, stem = form
    for token, span in tokens.items():
        # The typo must be inside the word ("reported" is not a misspelt "reporter").
        if token[:1] != core[:1] or len(token) < len(core) - 1 or (not stem and len(token) > len(core) + 1):
            continue
        lengths = (len(core) - 1, len(core), len(core) + 1)
        candidates = [token[:n] for n in lengths if n <= len(token)] if stem else [token]
        if any(c[-1:] == core[-1:] and _close(core, c) for c in candidates):
            return span
    return None


class _Text:
    """A post or its context, with the word lists every clause needs worked out once."""

    def __init__(self, text: str, hits: Sequence[PiiHit] = ()) -> None:
        self.text = text
        self.hits = hits
        self.tokens = _tokens(text)
        self.content_words = _content_words(text)

    def quote(self, start: int, end: int) -> str:
        """``text[start:end]`` with any identifier in it replaced by its kind: reasons never repeat PII."""
        parts: list[str] = []
        position = start
        for hit in self.hits:
            if hit.end <= start or hit.start >= end:
                continue
            parts.append(self.text[position : max(position, hit.start)])
            parts.append(f"[{KIND_LABELS[hit.kind]}]")
            position = max(position, hit.end)
        parts.append(self.text[position:end] if position < end else "")
        return "".join(parts).strip()


class _Found:
    """Evidence found in one text; a span overlapping one already counted does not count again."""

    def __init__(self, post: _Text) -> None:
        self.post = post
        self.spans: list[tuple[int, int]] = []
        self.quotes: list[str] = []

    def add(self, span: tuple[int, int] | None) -> bool:
        if span is None or span[0] == span[1]:
            return False
        start, end = span
        if any(start < e and s < end for s, e in self.spans):
            return False
        self.spans.append(span)
        self.quotes.append(self.post.quote(start, end))
        return True


def _evidence(signals: Signals, post: _Text) -> tuple[float, list[str], str | None]:
    """Score of ``post`` against ``signals`` (before weight and negatives), quotes, nearest example."""
    text, words = post.text, post.tokens
    found = _Found(post)
    strong = sum(found.add(_find(phrase, text, words)) for phrase in signals.phrases)
    strong += sum(found.add(m.span() if (m := pattern.search(text)) else None) for pattern in signals.patterns)
    hints = sum(found.add(_find(phrase, text, words)) for phrase in signals.hints)
    hints += sum(found.add(m.span() if (m := pattern.search(text)) else None) for pattern in signals.hint_patterns)
    score = 0.0
    if strong:
        score += PHRASE + min(MAX_EXTRA, MORE_EVIDENCE * (strong - 1))
    score += HINT * min(hints, MAX_HINTS)
    nearest = None
    if signals.examples:
        post_words = post.content_words
        best = 0.0
        for example in signals.examples:
            example_words = _example_words(example)
            common = len(post_words & example_words)
            if common < 2:
                continue
            similarity = common / math.sqrt(len(post_words) * len(example_words))
            if similarity > best:
                best, nearest = similarity, example
        if best >= EXAMPLE_MIN_SIMILARITY:
            score += EXAMPLE * best
        else:
            nearest = None
    return score, found.quotes, nearest


def _applies(clause: Clause, author_role: str | None) -> bool:
    if clause.applies_to == "officers":
        return author_role == "officer"
    if clause.applies_to == "contributors":
        return author_role != "officer"
    return True


def _quote_list(quotes: list[str], limit: int = 2) -> str:
    shown = []
    for quote in quotes[:limit]:
        quote = " ".join(quote.split())
        shown.append("'" + (quote if len(quote) <= 60 else quote[:57] + "...") + "'")
    return ", ".join(shown)


def _score_clause(
    clause: Clause, post: _Text, context: _Text | None, hits: Sequence[PiiHit]
) -> tuple[float, str] | None:
    signals = clause.signals
    own, quotes, example = _evidence(signals, post)
    pii_hits = [hit for hit in hits if hit.kind in signals.pii]
    if pii_hits:
        own += PII
    extra, context_quotes, context_example = _evidence(signals, context) if context else (0.0, [], None)
    negative = any(_find(phrase, post.text, {}) for phrase in signals.negative)
    factor = signals.weight * (NEGATIVE_FACTOR if negative else 1.0)
    score = (own + CONTEXT_FACTOR * extra) * factor
    if score < THRESHOLD:
        return None
    needs_context = own * factor < THRESHOLD
    if pii_hits:
        reason = f"{signals.reason}: {kinds_sentence(pii_hits)}"
        if quotes:
            reason += f"; also {_quote_list(quotes)}"
    elif quotes:
        reason = f"{signals.reason}: {_quote_list(quotes)}"
    elif example:
        reason = f"{signals.reason} (reads like '{example}')"
    else:
        reason = signals.reason
    if needs_context:
        found = _quote_list(context_quotes) if context_quotes else f"reads like '{context_example}'"
        reason += f" (with the context: {found})" if own else f" (in the context: {found})"
    return score, reason


def _clauses(catalogues: Catalogues | Iterable[Clause], catalogue_keys: Collection[str] | None) -> list[Clause]:
    clauses = catalogues.all_current() if isinstance(catalogues, Catalogues) else list(catalogues)
    return [c for c in clauses if c.signals and (catalogue_keys is None or c.catalogue in catalogue_keys)]


def suggest_clauses(
    text: str,
    catalogues: Catalogues | Iterable[Clause],
    *,
    author_role: str | None = None,
    context: str | None = None,
    limit: int = 3,
    pii_hits: Sequence[PiiHit] | None = None,
    catalogue_keys: Collection[str] | None = None,
) -> list[Suggestion]:
    """The likeliest clauses for a post, best first, at most ``limit`` of them.

    ``author_role``: "officer" lets officer-only clauses (RCR 2.16-2.24, 2.29) score and stops
    contributor-only ones (RCR 2.15); anything else is treated as a contributor.
    ``context``: optional text around the post (the message it answers, the reporter's note);
    its evidence counts for half and is never scanned for PII.
    ``pii_hits``: the result of ``app.pii.scan(text)`` when the caller already has it.
    ``catalogue_keys``: only suggest clauses from these catalogues (default: all of them).
    """
    if not text or not text.strip() or limit <= 0:
        return []
    hits = scan(text) if pii_hits is None else pii_hits
    post = _Text(_normalise(text), hits)
    around = _Text(_normalise(context)) if context else None
    scored: list[tuple[float, int, Suggestion]] = []
    for order, clause in enumerate(_clauses(catalogues, catalogue_keys)):
        if not _applies(clause, author_role):
            continue
        result = _score_clause(clause, post, around, hits)
        if result is not None:
            score, reason = result
            scored.append((score, order, Suggestion(clause=clause.key, reason=reason, score=round(score, 2))))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [suggestion for _, _, suggestion in scored[:limit]]


def suggest(
    text: str,
    catalogues: Catalogues | Iterable[Clause],
    *,
    author_role: str | None = None,
    context: str | None = None,
    limit: int = 3,
) -> dict[str, list[dict[str, object]]]:
    """Clause and PII suggestions in the API shape:
    ``{"clauses": [{"clause", "reason"}], "pii": [{"kind", "start", "end"}]}``."""
    hits = scan(text or "")
    clauses = suggest_clauses(
        text, catalogues, author_role=author_role, context=context, limit=limit, pii_hits=hits
    )
    return {"clauses": [s.as_dict() for s in clauses], "pii": [h.as_dict() for h in hits]}
