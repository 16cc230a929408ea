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
import re._constants as _sre  # the parsed form of a regular expression, for the screen (_needs)
import re._parser as _sre_parse
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

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


@lru_cache(maxsize=65536)
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


@lru_cache(maxsize=8192)
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
    return _find_typo(phrase, tokens.items())


def _find_typo(phrase: Phrase, tokens: Iterable[tuple[str, tuple[int, int]]]) -> tuple[int, int] | None:
    """The first of ``tokens`` that is ``phrase`` (a long single word) with one typo."""
    form = _fuzzy_form(phrase)
    if form is None:
        return None
    core, stem = form
    return next((span for token, span in tokens if _typo_match(core, stem, token)), None)


def _typo_match(core: str, stem: bool, token: str) -> bool:
    # The typo must be inside the word ("reported" is not a misspelt "reporter").
    if token[:1] != core[:1] or len(token) < len(core) - 1 or (not stem and len(token) > len(core) + 1):
        return False
    lengths = (len(core) - 1, len(core), len(core) + 1)
    candidates = [token[:n] for n in lengths if n <= len(token)] if stem else [token]
    return any(c[-1:] == core[-1:] and _close(core, c) for c in candidates)


# --- screening a text once for all clauses (same results as searching every phrase and pattern) --------
# A phrase that starts with a letter or digit matches only at the start of a run of word characters
# (its pattern begins with \b), and the run then begins with the phrase's leading letters and digits (is
# exactly its first word, when that is letters and digits only), as re.IGNORECASE compares them. So only
# the phrases filed under the text's runs are searched; the rest cannot match. A regular expression is
# searched only when the text holds one of the literal texts every match of it holds (``_needs``). What a
# word gives (its phrases, its typo matches, its needs) is worked out once and kept, since posts share most
# of their words. Besides ASCII letters, exactly four characters match an ASCII letter under
# re.IGNORECASE (checked over all of Unicode); the text is folded with them too. ``_find`` stays the
# definition of a phrase match; tests/suggest checks the screened path gives the same suggestions.
_FOLD = {**{ord(c): c.lower() for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
         0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}
_LEADING = re.compile(r"[a-z0-9]+")
_RUN = re.compile(r"\w+")


@lru_cache(maxsize=8192)
def _anchor(phrase: Phrase) -> tuple[str, bool] | None:
    """The leading ASCII letters and digits every match of ``phrase`` starts a word with, and whether the
    word is exactly that (a first word of letters and digits only, without a ``*``: the pattern's \\b or
    the space or hyphen after it ends the run there). None: no screen for this phrase."""
    words = phrase.text.strip().lower().split()
    first = words[0] if words else ""
    if not first[:1].isascii() or not first[:1].isalnum():
        return None
    leading = _LEADING.match(first)
    if leading is None:
        return None
    return leading.group(), leading.group() == first


def _needs(items: Iterable[tuple[Any, Any]]) -> set[str] | None:
    """Literal texts (lower-case ASCII) one of which is in every match of the parsed regular expression
    ``items``, folded as ``_FOLD`` folds the text; None when the expression promises none. A literal run is
    consecutive characters every match has (a zero-width \\b inside does not split it); a group or a
    repeat at least once needs what its body needs; alternatives need one of what any of them needs."""
    best: set[str] | None = None

    def take(candidate: set[str] | None) -> None:
        nonlocal best
        if candidate and (best is None or min(map(len, candidate)) > min(map(len, best))):
            best = candidate

    run: list[str] = []
    for op, av in items:
        if op is _sre.LITERAL:
            run.append(chr(av))
            continue
        if op is _sre.AT:
            continue
        take(_literal(run))
        run = []
        if op is _sre.SUBPATTERN:
            take(_needs(av[3]))
        elif op is _sre.BRANCH:
            alternatives = [_needs(branch) for branch in av[1]]
            if all(alternatives):
                take(set().union(*alternatives))  # type: ignore[arg-type]
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT) and av[0] >= 1:
            take(_needs(av[2]))
    take(_literal(run))
    return best


def _literal(run: list[str]) -> set[str] | None:
    """The run as the folded text shows it; None when a character of it has a case outside ASCII (the
    fold covers ASCII only; a character without case is compiled to match only itself)."""
    text = "".join(run)
    if not text or not all(c.isascii() or c.lower() == c == c.upper() for c in text):
        return None
    return {text.lower()}


@lru_cache(maxsize=4096)
def _pattern_needs(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    try:
        needs = _needs(_sre_parse.parse(pattern.pattern, pattern.flags))
    except Exception:  # noqa: BLE001 - a form the screen does not know: always search
        return None
    return tuple(sorted(needs)) if needs else None


class _Index:
    """The phrases of a list of clauses, filed by their leading letters (``_anchor``) and, for those that
    match with a typo, by first letter and length: each text is then screened once for the whole list
    instead of searched once per phrase. Which phrase matches where is exactly what ``_find`` finds."""

    def __init__(self, clauses: list[Clause]) -> None:
        self.clauses = clauses  # keeps the ids below valid
        self.by_word: dict[str, list[Phrase]] = {}  # the first word exactly
        self.by_start: dict[str, list[Phrase]] = {}  # the first word's beginning
        self.unanchored: list[Phrase] = []
        # Phrases that match with a typo (_fuzzy_form): (id, core) by first letter and length; stems
        # ("incompeten*") as (id, core, its length) by first letter.
        self.typo_word: dict[tuple[str, int], list[tuple[int, str]]] = {}
        self.typo_stem: dict[str, list[tuple[int, str, int]]] = {}
        self.ids: dict[int, tuple[frozenset[int], frozenset[int], frozenset[int]]] = {}
        filed: set[int] = set()
        for clause in clauses:
            signals = clause.signals
            self.ids[id(signals)] = (frozenset(map(id, signals.phrases)), frozenset(map(id, signals.hints)),
                                     frozenset(map(id, signals.negative)))
            for phrase in (*signals.phrases, *signals.hints, *signals.negative):
                if id(phrase) in filed:
                    continue
                filed.add(id(phrase))
                anchor = _anchor(phrase)
                if anchor is None:
                    self.unanchored.append(phrase)
                else:
                    (self.by_word if anchor[1] else self.by_start).setdefault(anchor[0], []).append(phrase)
                form = _fuzzy_form(phrase)
                if form is not None:
                    core, stem = form
                    if stem:
                        self.typo_stem.setdefault(core[:1], []).append((id(phrase), core, len(core)))
                    else:
                        self.typo_word.setdefault((core[:1], len(core)), []).append((id(phrase), core))
        self.start_lengths = sorted({len(start) for start in self.by_start})
        # Regular expressions by the literal texts they need (_pattern_needs); those that need none known.
        self.by_need: dict[str, list[re.Pattern[str]]] = {}
        self.unscreened: list[re.Pattern[str]] = []
        self.patterns: dict[int, frozenset[int]] = {}  # id(signals) -> ids of its patterns and hint patterns
        filed.clear()
        for clause in clauses:
            signals = clause.signals
            patterns = (*signals.patterns, *signals.hint_patterns)
            self.patterns[id(signals)] = frozenset(map(id, patterns))
            for pattern in patterns:
                if id(pattern) in filed:
                    continue
                filed.add(id(pattern))
                needs = _pattern_needs(pattern)
                if needs is None:
                    self.unscreened.append(pattern)
                for need in needs or ():
                    self.by_need.setdefault(need, []).append(pattern)

        # Needs of letters and digits only lie inside one run of word characters: found run by run.
        self.word_needs = [need for need in self.by_need if need.isalnum() and need.isascii()]
        self.spaced_needs = [need for need in self.by_need if not (need.isalnum() and need.isascii())]
        # What a word or run gives, the same in every text: worked out once (posts share most words).
        self._typos: dict[str, tuple[int, ...]] = {}
        self._phrases: dict[str, tuple[Phrase, ...]] = {}
        self._patterns: dict[str, tuple[re.Pattern[str], ...]] = {}
        # Example posts by their words, so the examples sharing two words with a text are counted at once.
        self.example_words: dict[str, list[tuple[int, int]]] = {}
        for clause in clauses:
            for number, example in enumerate(clause.signals.examples):
                for word in _example_words(example):
                    self.example_words.setdefault(word, []).append((id(clause.signals), number))

    def typos_of(self, token: str) -> tuple[int, ...]:
        """Ids of the phrases ``token`` (a lower-case word) is with one typo (``_typo_match``)."""
        found = self._typos.get(token)
        if found is None:
            if len(self._typos) > 100_000:
                self._typos.clear()
            initial, length, last = token[:1], len(token), token[-1:]
            keys: list[int] = []
            for size in (length - 1, length, length + 1):
                # Filed by first letter and length, so only the rest of _typo_match is left to check.
                keys += (key for key, core in self.typo_word.get((initial, size), ())
                         if core[-1:] == last and _close(core, token))
            keys += (key for key, core, size in self.typo_stem.get(initial, ())
                     if length >= size - 1 and _typo_match(core, True, token))
            found = self._typos[token] = tuple(keys)
        return found

    def phrases_of(self, run: str) -> tuple[Phrase, ...]:
        """The phrases that may match starting with ``run`` (a folded run of word characters), by anchor."""
        found = self._phrases.get(run)
        if found is None:
            if len(self._phrases) > 100_000:
                self._phrases.clear()
            candidates = [*self.by_word.get(run, ())]
            for size in self.start_lengths:
                if size > len(run):
                    break
                candidates += self.by_start.get(run[:size], ())
            found = self._phrases[run] = tuple(candidates)
        return found

    def patterns_of(self, run: str) -> tuple[re.Pattern[str], ...]:
        """The regular expressions one of whose letters-and-digits needs is inside ``run``."""
        found = self._patterns.get(run)
        if found is None:
            if len(self._patterns) > 100_000:
                self._patterns.clear()
            found = self._patterns[run] = tuple(
                {id(p): p for need in self.word_needs if need in run for p in self.by_need[need]}.values())
        return found

    def may_score(self, clause: Clause, post: _Text, kinds: set[str]) -> bool:
        """False when ``post`` holds none of the clause's evidence — no phrase, hint or pattern of it
        matches, no PII kind of it is in ``kinds`` and no example shares two words with it — so the clause
        scores 0 there (a shortcut: ``_score_clause`` would find nothing)."""
        signals = clause.signals
        phrase_ids, hint_ids, _negative = self.ids[id(signals)]
        if not (phrase_ids.isdisjoint(post.found) and hint_ids.isdisjoint(post.found)
                and self.patterns[id(signals)].isdisjoint(post.pattern_found) and kinds.isdisjoint(signals.pii)):
            return True
        return id(signals) in post.near_examples


_INDEXES: dict[tuple[int, ...], _Index] = {}


def _index(clauses: list[Clause]) -> _Index:
    key = tuple(map(id, clauses))
    index = _INDEXES.get(key)
    if index is None:
        if len(_INDEXES) >= 16:
            _INDEXES.clear()
        index = _INDEXES[key] = _Index(clauses)
    return index


class _Text:
    """A post or its context, with the word lists every clause needs worked out once, and which of the
    clauses' phrases match in it (and where), found in one screen of the text (``_Index``)."""

    def __init__(self, text: str, hits: Sequence[PiiHit] = (), index: _Index | None = None) -> None:
        self.text = text
        self.hits = hits
        self.tokens = _tokens(text)
        self.content_words = _content_words(text)
        self.index = index if index is not None else _Index([])
        self.folded = text.translate(_FOLD)
        self.searched: dict[int, tuple[int, int] | None] = {}  # id(pattern) -> span of its first match
        self.matched: dict[int, tuple[int, int]] = {}  # id(phrase) -> span of its pattern's first match
        for phrase in self.index.unanchored:
            needs = _pattern_needs(phrase.pattern)
            if (needs is None or any(need in self.folded for need in needs)) and \
                    (match := phrase.pattern.search(text)):
                self.matched[id(phrase)] = match.span()
        index = self.index
        runs = set(_RUN.findall(self.folded))
        searched: set[int] = set()
        for run in runs:
            for phrase in index.phrases_of(run):
                if id(phrase) not in searched:
                    searched.add(id(phrase))
                    if match := phrase.pattern.search(text):
                        self.matched[id(phrase)] = match.span()
        typos: dict[int, tuple[int, int]] = {}  # id(phrase) -> span of the first word it is with a typo
        for token, span in self.tokens.items():
            for key in index.typos_of(token):
                typos.setdefault(key, span)
        self.typos = typos
        self.found = self.matched.keys() | self.typos.keys()
        # The regular expressions whose literal texts are in the text (or that need none), searched now.
        candidates = {id(p): p for p in index.unscreened}
        for run in runs:
            for pattern in index.patterns_of(run):
                candidates[id(pattern)] = pattern
        for need in index.spaced_needs:
            if need in self.folded:
                candidates.update((id(p), p) for p in index.by_need[need])
        for key, pattern in candidates.items():
            match = pattern.search(text)
            self.searched[key] = match.span() if match else None
        self.pattern_found = {key for key, span in self.searched.items() if span is not None}
        shared: dict[tuple[int, int], int] = {}
        for word in self.content_words:
            for example in index.example_words.get(word, ()):
                shared[example] = shared.get(example, 0) + 1
        # id(signals) of the clauses with an example sharing at least two words with the text.
        self.near_examples = {signals for (signals, _number), count in shared.items() if count >= 2}

    def search(self, pattern: re.Pattern[str]) -> tuple[int, int] | None:
        """The span of ``pattern``'s first match; not searched when the text lacks what it needs."""
        key = id(pattern)
        if key not in self.searched:
            needs = _pattern_needs(pattern)
            if needs is not None and not any(need in self.folded for need in needs):
                self.searched[key] = None
            else:
                match = pattern.search(self.text)
                self.searched[key] = match.span() if match else None
        return self.searched[key]

    def find(self, phrase: Phrase, *, typos: bool = True) -> tuple[int, int] | None:
        """``_find(phrase, text, tokens if typos else {})`` for a phrase of the index's clauses."""
        span = self.matched.get(id(phrase))
        if span is not None or not typos:
            return span
        return self.typos.get(id(phrase))

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
    found = _Found(post)
    # Only phrases found in the text can add anything (``post.found``); the rest are skipped unsearched.
    phrase_ids, hint_ids, _negative = post.index.ids[id(signals)]
    phrases = () if phrase_ids.isdisjoint(post.found) else [p for p in signals.phrases if id(p) in post.found]
    hint_phrases = () if hint_ids.isdisjoint(post.found) else [p for p in signals.hints if id(p) in post.found]
    strong = sum(found.add(post.find(phrase)) for phrase in phrases)
    strong += sum(found.add(post.search(pattern)) for pattern in signals.patterns)
    hints = sum(found.add(post.find(phrase)) for phrase in hint_phrases)
    hints += sum(found.add(post.search(pattern)) for pattern in signals.hint_patterns)
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
    negative = not post.index.ids[id(signals)][2].isdisjoint(post.matched) and \
        any(post.find(phrase, typos=False) for phrase in signals.negative)
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
    if isinstance(catalogues, Catalogues):  # loaded once and never changed: the list is kept
        key = (id(catalogues), None if catalogue_keys is None else tuple(sorted(catalogue_keys)))
        kept = _CLAUSE_LISTS.get(key)
        if kept is None or kept[0] is not catalogues:
            if len(_CLAUSE_LISTS) >= 16:
                _CLAUSE_LISTS.clear()
            kept = _CLAUSE_LISTS[key] = (catalogues, _signalled(catalogues.all_current(), catalogue_keys))
        return kept[1]
    return _signalled(list(catalogues), catalogue_keys)


def _signalled(clauses: list[Clause], catalogue_keys: Collection[str] | None) -> list[Clause]:
    return [c for c in clauses if c.signals and (catalogue_keys is None or c.catalogue in catalogue_keys)]


_CLAUSE_LISTS: dict[tuple[int, tuple[str, ...] | None], tuple[Catalogues, list[Clause]]] = {}


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
    clauses = _clauses(catalogues, catalogue_keys)
    index = _index(clauses)
    post = _Text(_normalise(text), hits, index)
    around = _Text(_normalise(context), index=index) if context else None
    kinds = {hit.kind for hit in hits}
    scored: list[tuple[float, int, Suggestion]] = []
    for order, clause in enumerate(clauses):
        if not _applies(clause, author_role):
            continue
        if not index.may_score(clause, post, kinds) and (around is None or not index.may_score(clause, around, set())):
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
