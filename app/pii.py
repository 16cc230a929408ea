"""Patient-identifying and contact details in captured post text.

``scan(text)`` finds NHS numbers, dates of birth, hospital (MRN) numbers, UK postcodes, UK phone
numbers and e-mail addresses, and returns them as non-overlapping hits sorted by position. The
hits are *suggestions*: the capture form highlights them (``highlight_html``) and proposes a
severity (``severity_for``) and clause 2.8; a person confirms.

The rules, in brief (docs/suggestions.md has the detail):

- **nhs_number**: 10 digits, written together or grouped 3-3-4 with spaces or hyphens, whose
  modulus-11 check digit is right. A number whose check digit fails is never an NHS number, and
  a valid one is skipped when the words just before it say it is an order, ticket, invoice or
  similar reference.
- **date_of_birth**: a date (``01/02/1960``, ``1.2.60``, ``1 Feb 1960``, ``February 1, 1960``,
  ``1960-02-01``) with a birth cue next to it (DOB, d.o.b., date of birth, born), or with an age
  nearby (``aged 82``, ``82yo``, ``82-year-old``) when the date is old enough to be the birth
  date of someone that age. Other dates (appointments, scans, deadlines) are not reported.
- **hospital_number**: an id after a cue (MRN, hospital no/number, patient ID, unit number,
  medical record number) or a trust-code prefixed number such as ``RJ1 1234567``.
- **postcode**: a full UK postcode (outward and inward code, ``GIR 0AA`` too), with or without
  the space. An outward code on its own (``LS1``) is not enough.
- **phone**: UK landline (01, 02, 03) and mobile (07) numbers, national or +44/0044, with
  spaces, hyphens or a bracketed area code; not after an order/ticket/invoice cue.
- **email**: e-mail addresses.

Pure: no Flask, no database. ``highlight_html`` is the one place that builds markup from post
text, and it escapes everything that is not a ``<mark>`` it adds itself.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

KINDS = ("nhs_number", "date_of_birth", "hospital_number", "postcode", "phone", "email")
PATIENT_KINDS = frozenset({"nhs_number", "date_of_birth", "hospital_number"})
CONTACT_KINDS = frozenset({"postcode", "phone", "email"})
KIND_LABELS = {
    "nhs_number": "NHS number",
    "date_of_birth": "date of birth",
    "hospital_number": "hospital number",
    "postcode": "postcode",
    "phone": "phone number",
    "email": "e-mail address",
}
# When two candidate hits overlap, the kind listed first wins.
_PRIORITY = {"email": 0, "nhs_number": 1, "hospital_number": 2, "phone": 3, "date_of_birth": 4, "postcode": 5}


@dataclass(frozen=True)
class PiiHit:
    kind: str
    start: int
    end: int
    text: str

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    def as_dict(self) -> dict[str, object]:
        """The API shape: ``{"kind", "start", "end"}``."""
        return {"kind": self.kind, "start": self.start, "end": self.end}


# --- NHS numbers ---------------------------------------------------------------------------------


def nhs_check_digit_ok(number: str) -> bool:
    """True when ``number`` has 10 digits (other characters ignored) and a valid modulus-11 check digit."""
    digits = [int(c) for c in number if c.isdigit()]
    if len(digits) != 10:
        return False
    total = sum(weight * digit for weight, digit in zip(range(10, 1, -1), digits[:9], strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == digits[9]


# 10 digits together, or 3-3-4 with one kind of separator (a space or a hyphen) used throughout.
_NHS = re.compile(r"(?<![\w+/-])(?<!\d[.,])\d{3}(?P<sep>[ -]?)\d{3}(?P=sep)\d{4}(?![\w/-]|[.,]\d)")
# Words that say the number next to them is something else (checked just before the number).
_REFERENCE_CUE = re.compile(
    r"\b(?:order|ticket|invoice|inv|tracking|booking|ref|reference|account|acct|a/c|serial|po|"
    r"confirmation|transaction|receipt|parcel|membership|voucher|sku)"
    r"(?:\s*(?:no\.?|number|num|id|ref|code|#))?\s*[:#.=-]?\s*$",
    re.IGNORECASE,
)
_PHONE_CUE = re.compile(
    r"\b(?:tel|telephone|phone|ph|call|ring|rang|mob|mobile|text|whatsapp|landline|fax|contact)\b"
    r"(?:\s*(?:me|us|him|her|them|on|no\.?|number|is|:))*\s*[:.=-]?\s*$",
    re.IGNORECASE,
)
_INTERNATIONAL_PREFIX = re.compile(r"(?:\+|\b00)\s?44[ -]?(?:\(0\)[ -]?)?$")


def _before(text: str, start: int, width: int = 32) -> str:
    """The text just before ``start`` on the same line."""
    window = text[max(0, start - width) : start]
    return window.rsplit("\n", 1)[-1]


def _nhs_numbers(text: str) -> Iterable[tuple[str, int, int]]:
    for match in _NHS.finditer(text):
        if not nhs_check_digit_ok(match.group()):
            continue
        before = _before(text, match.start())
        if _REFERENCE_CUE.search(before) or _INTERNATIONAL_PREFIX.search(before):
            continue
        if match.group().startswith("0") and _PHONE_CUE.search(before):
            continue  # "call 0163296012": a phone number that happens to pass the check
        yield "nhs_number", match.start(), match.end()


# --- phone numbers -------------------------------------------------------------------------------

_PHONE = re.compile(
    r"(?<![\w+.])"
    r"(?:(?P<intl>(?:\+|00)\s?44[ -]?(?:\(0\)[ -]?)?)(?=[1237])|(?=\(?0[1237]))"
    r"(?P<number>\(?0?[1237]\d{0,4}\)?(?:[ -]?\d{2,7}){0,4})"
    r"(?![\w]|[.,]\d)"
)


def _phone_digits_ok(national: str, groups: list[str], intl: bool) -> bool:
    """``national`` is the number with its leading 0 (added back for +44 numbers)."""
    if not national.startswith(("01", "02", "03", "07")):
        return False
    if any(len(g) > 7 for g in groups[1:]) or len(groups) > 4:
        return False
    if len(national) == 11:
        return not national.startswith("07") or len(groups) <= 3
    if len(national) == 10 and national.startswith("01"):
        # Ten-digit numbers exist only in some 01 areas, written 01xxx xxxxx or 01xxxx xxxx; written
        # together they are indistinguishable from a reference, so they need the +44 to count.
        first = groups[0].strip("()").lstrip("0") if intl else groups[0].strip("()")
        return intl or (len(groups) == 2 and len(first) in (5, 6))
    return False


def _phones(text: str) -> Iterable[tuple[str, int, int]]:
    for match in _PHONE.finditer(text):
        intl = match.group("intl") is not None
        start = match.start()
        if _REFERENCE_CUE.search(_before(text, start)) or text[max(0, start - 1) : start] == "#":
            continue
        raw = match.group("number")
        groups = re.split(r"[ -]", raw.replace(")", ") ").replace("  ", " ").strip())
        # A greedy match may run into a following number ("07700 900123 12 times"): drop trailing
        # groups until the digits make a phone number.
        while groups:
            digits = "".join(c for g in groups for c in g if c.isdigit())
            national = digits if digits.startswith("0") else "0" + digits
            if _phone_digits_ok(national, groups, intl):
                break
            groups = groups[:-1]
        if not groups:
            continue
        # The end of the kept groups, found by walking the raw text.
        needed = sum(c.isdigit() for g in groups for c in g)
        end = match.start("number")
        seen = 0
        while seen < needed:
            if text[end].isdigit():
                seen += 1
            end += 1
        if raw.startswith("(") and ")" not in text[match.start("number") : end]:
            continue  # an unbalanced bracket: not a written phone number
        yield "phone", start, end


# --- e-mail --------------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)


def _emails(text: str) -> Iterable[tuple[str, int, int]]:
    for match in _EMAIL.finditer(text):
        yield "email", match.start(), match.end()


# --- postcodes -----------------------------------------------------------------------------------

_POSTCODE = re.compile(
    r"(?<![\w-])(?P<pc>GIR ?0AA|"
    r"(?P<out>[A-PR-UWYZ][0-9][0-9]?|[A-PR-UWYZ][A-HK-Y][0-9][0-9]?|[A-PR-UWYZ][0-9][A-HJKPSTUW]"
    r"|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY])"
    r"(?P<space> ?)(?P<in>[0-9][ABD-HJLNP-UW-Z]{2}))(?![\w-])",
    re.IGNORECASE,
)
# Lower-case look-alikes: "w1 2nd", "b12 1mg", "room a1 5pm", "b15th".
_ORDINAL = re.compile(r"^(?:1st|2nd|3rd|[04-9]th)$", re.IGNORECASE)
_UNITS = {"MG", "ML", "KG", "GB", "MB", "KB", "PM", "MM", "HZ", "LB", "GY", "MS", "NG", "UG", "DL"}


def _postcodes(text: str) -> Iterable[tuple[str, int, int]]:
    for match in _POSTCODE.finditer(text):
        code = match.group("pc")
        inward = match.group("in") or ""
        if code != code.upper() and (_ORDINAL.match(inward) or inward[1:].upper() in _UNITS):
            continue
        yield "postcode", match.start(), match.end()


# --- hospital numbers ----------------------------------------------------------------------------

_HOSPITAL_CUE = (
    r"(?:\bM\.?R\.?N\.?|\bhospital\s+(?:no\b\.?|number|num\b|#)|\bhosp\.?\s*(?:no\b\.?|number|#)|"
    r"\b(?:patient|pt)\.?\s*(?:id\b|i\.d\.|number|no\b\.?|#)|\bunit\s+(?:no\b\.?|number)|"
    r"\b(?:medical|health)\s+record\s+(?:no\b\.?|number)|\bcase\s*notes?\s+(?:no\b\.?|number)|"
    r"\bK\s?(?:no\b\.?|number))"
)
_HOSPITAL = re.compile(
    _HOSPITAL_CUE
    + r"\s*(?:[:#=]\s*|-\s*|is\s+|was\s+)?"
    + r"(?P<id>(?:(?-i:[A-Z]{1,3})[ -]?|[A-Za-z]{1,3}(?=\d))?\d{3,}(?:[ -]\d{3,})?(?-i:[A-Z])?)(?![\w/]|[.,:]\d)",
    re.IGNORECASE,
)
# A trust's organisation code (R plus two characters) then the local number: "RJ1 1234567".
_TRUST_PREFIXED = re.compile(r"(?<![\w-])R[A-Z][A-Z0-9][ -]?\d{6,8}(?![\w/-]|[.,]\d)")


def _hospital_numbers(text: str) -> Iterable[tuple[str, int, int]]:
    for match in _HOSPITAL.finditer(text):
        ident = match.group("id")
        if sum(c.isdigit() for c in ident) >= 5:
            yield "hospital_number", match.start("id"), match.end("id")
    for match in _TRUST_PREFIXED.finditer(text):
        yield "hospital_number", match.start(), match.end()


# --- dates of birth ------------------------------------------------------------------------------

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}
_MONTH = (
    r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATES = [
    # 01/02/1960, 1-2-60, 01.02.60
    re.compile(
        r"(?<![\w/:-])(?<!\d\.)(?P<d>\d{1,2})(?P<s>[/.-])(?P<m>\d{1,2})(?P=s)(?P<y>\d{4}|\d{2})(?![\w/:-]|[.,]\d)"
    ),
    # 1960-02-01, 1960/02/01
    re.compile(r"(?<![\w/:-])(?<!\d\.)(?P<y>\d{4})(?P<s>[/-])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2})(?![\w/:-]|[.,]\d)"),
    # 1 Feb 1960, 1st February 1960, 01-Feb-60, 3rd of March 1958
    re.compile(
        r"(?<![\w/.-])(?P<d>\d{1,2})(?:st|nd|rd|th)?(?:\s+of)?[\s-]+"
        + _MONTH
        + r",?[\s-]+(?P<y>\d{4}|'?\d{2})(?![\w/:-]|[.,]\d)",
        re.IGNORECASE,
    ),
    # February 1, 1960; Feb 1st 1960
    re.compile(
        r"(?<![\w/.-])" + _MONTH + r"\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4}|'?\d{2})(?![\w/:-]|[.,]\d)",
        re.IGNORECASE,
    ),
]
_BIRTH_CUE_BEFORE = re.compile(
    r"(?:\bd\.?\s?o\.?\s?b\b\.?|\bdate\s+of\s+birth\b|\bbirth\s?date\b|\bborn\b)", re.IGNORECASE
)
_BIRTH_CUE_AFTER = re.compile(r"^[\s(\[:,-]{0,4}(?:d\.?\s?o\.?\s?b\b\.?|date\s+of\s+birth\b)", re.IGNORECASE)
_AGE_CUE = re.compile(
    r"\b(?:aged?\s*:?\s*(?P<a1>\d{1,3})\b|(?P<a2>\d{1,3})\s?(?:yo\b|y/o\b|y\.o\b\.?|yrs?\b(?:\s+old)?|"
    r"years?[\s-]old\b|-year-old\b|yr[\s-]old\b))",
    re.IGNORECASE,
)
# Words between a birth cue and a date that mean the date is about something else.
_EVENT_WORDS = re.compile(
    r"\b(?:appointment|appt|seen|scan|scanned|admitted|admission|clinic|booked|started|start|review|due|"
    r"follow[- ]?up|discharged|referr\w*|visit|op|surgery|died|moved|joined|until|from|since|on\s+leave)\b",
    re.IGNORECASE,
)


def _year(raw: str, today: date) -> int:
    raw = raw.lstrip("'")
    if len(raw) == 4:
        return int(raw)
    yy = int(raw)
    return 2000 + yy if 2000 + yy <= today.year else 1900 + yy


def _date_candidates(text: str, today: date) -> list[tuple[int, int, int]]:
    """(start, end, year) of every plausible date in ``text``."""
    found: list[tuple[int, int, int]] = []
    taken: list[tuple[int, int]] = []
    for pattern in _DATES:
        for match in pattern.finditer(text):
            if any(match.start() < e and s < match.end() for s, e in taken):
                continue
            day = int(match.group("d"))
            month = _MONTHS[match.group("mon")[:3].lower()] if "mon" in pattern.groupindex else int(match.group("m"))
            year = _year(match.group("y"), today)
            if not (1 <= day <= 31 and 1 <= month <= 12 and 1880 <= year <= today.year + 1):
                continue
            found.append((match.start(), match.end(), year))
            taken.append((match.start(), match.end()))
    return sorted(found)


def _gap_is_plain(gap: str) -> bool:
    """Text between a cue and its date: short, on one line, one clause, no other event."""
    if len(gap) > 30 or "\n" in gap or re.search(r"[;!?]|\.\s+[A-Z]", gap):
        return False
    if len(re.findall(r"[A-Za-z]+", gap)) > 4:
        return False
    return not _EVENT_WORDS.search(gap)


def _dates_of_birth(text: str, today: date) -> Iterable[tuple[str, int, int]]:
    dates = _date_candidates(text, today)
    ages = [(m.start(), m.end(), int(m.group("a1") or m.group("a2"))) for m in _AGE_CUE.finditer(text)]
    age_starts = [a[0] for a in ages]
    years = sorted((y for _, _, y in dates), reverse=True)
    for index, (start, end, year) in enumerate(dates):
        previous_end = dates[index - 1][1] if index else 0
        # A birth cue just before (with no other date in between) or just after.
        window_start = max(previous_end, start - 40)
        cues = list(_BIRTH_CUE_BEFORE.finditer(text, window_start, start))
        if cues and _gap_is_plain(text[cues[-1].end() : start]):
            yield "date_of_birth", start, end
            continue
        if _BIRTH_CUE_AFTER.match(text[end : end + 24]):
            yield "date_of_birth", start, end
            continue
        # An age nearby, on the same line, and the date is old enough to be that person's birth date
        # (measured from the latest other date in the text, or from today).
        latest_other = years[1] if years[0] == year and len(years) > 1 else (years[0] if years[0] != year else None)
        reference_year = max(today.year, latest_other or 0)
        first = bisect_left(age_starts, start - 60)
        for a_start, a_end, age in ages[first : bisect_right(age_starts, end + 40)]:
            near = (0 <= start - a_end <= 40 or 0 <= a_start - end <= 40) and "\n" not in text[
                min(a_end, end) : max(a_start, start)
            ]
            if near and 0 < age < 125 and reference_year - year >= age - 1:
                yield "date_of_birth", start, end
                break


# --- putting it together -------------------------------------------------------------------------


def scan(text: str, *, today: date | None = None) -> list[PiiHit]:
    """Every identifier found in ``text``: sorted by start, never overlapping.

    ``today`` only matters for two-digit years and for the age-versus-date check on dates of
    birth; it defaults to the current date.
    """
    if not text:
        return []
    today = today or date.today()
    normalised = text.replace("\u00a0", " ").replace("\u2011", "-").replace("\u2013", "-")
    candidates = [
        *_emails(normalised),
        *_nhs_numbers(normalised),
        *_hospital_numbers(normalised),
        *_phones(normalised),
        *_dates_of_birth(normalised, today),
        *_postcodes(normalised),
    ]
    candidates.sort(key=lambda c: (_PRIORITY[c[0]], -(c[2] - c[1]), c[1]))
    chosen: list[tuple[str, int, int]] = []
    for kind, start, end in candidates:
        if all(end <= s or e <= start for _, s, e in chosen):
            chosen.append((kind, start, end))
    return [PiiHit(kind, start, end, text[start:end]) for kind, start, end in sorted(chosen, key=lambda c: c[1])]


def severity_for(hits: Iterable[PiiHit]) -> str | None:
    """"critical" when a patient identifier is present, "high" for contact details only, else None."""
    kinds = {hit.kind for hit in hits}
    if kinds & PATIENT_KINDS:
        return "critical"
    if kinds & CONTACT_KINDS:
        return "high"
    return None


def kinds_sentence(hits: Iterable[PiiHit]) -> str:
    """The kinds found, in a readable list: "an NHS number and a postcode"."""
    seen: list[str] = []
    for hit in hits:
        if hit.kind not in seen:
            seen.append(hit.kind)
    labels = [("an " if KIND_LABELS[k][0] in "aeiouN" else "a ") + KIND_LABELS[k] for k in seen]
    if len(labels) <= 1:
        return "".join(labels)
    return ", ".join(labels[:-1]) + " and " + labels[-1]


def highlight_html(text: str, hits: Iterable[PiiHit]) -> Markup:
    """``text`` HTML-escaped, with ``<mark class="pii pii-KIND">`` around each hit.

    Everything taken from ``text`` goes through ``markupsafe.escape``; overlapping or
    out-of-range hits are skipped rather than trusted.
    """
    parts: list[Markup] = []
    position = 0
    for hit in sorted(hits, key=lambda h: (h.start, h.end)):
        if hit.kind not in KIND_LABELS or hit.start < position or not (0 <= hit.start < hit.end <= len(text)):
            continue
        parts.append(escape(text[position : hit.start]))
        parts.append(
            Markup('<mark class="pii pii-{kind}" title="{label}">{body}</mark>').format(
                kind=hit.kind, label=KIND_LABELS[hit.kind], body=text[hit.start : hit.end]
            )
        )
        position = hit.end
    parts.append(escape(text[position:]))
    return Markup("").join(parts)
