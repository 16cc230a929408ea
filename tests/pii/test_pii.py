"""app/pii.py: the rules one by one, then precision and recall per kind over tests/data/pii_cases.yaml."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import yaml

from app.pii import KINDS, PiiHit, highlight_html, kinds_sentence, nhs_check_digit_ok, scan, severity_for

CASES = Path(__file__).resolve().parents[1] / "data" / "pii_cases.yaml"
TODAY = date(2025, 6, 1)
MINIMUM = 0.95


def found(text: str) -> list[tuple[str, str]]:
    return [(hit.kind, hit.text) for hit in scan(text, today=TODAY)]


def with_check_digit(nine: str) -> str | None:
    total = sum(w * int(d) for w, d in zip(range(10, 1, -1), nine, strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return None if check == 10 else nine + str(check)


# --- NHS numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["9434765919", "4010232137", "9542555032", "1361086777"])
def test_valid_check_digits(number: str) -> None:
    assert nhs_check_digit_ok(number)


@pytest.mark.parametrize(
    "number",
    ["9434765918", "1234567890", "1234567891", "0000000001", "7030159259", "943476591", "94347659190", ""],
    ids=["last-digit-off", "order-number", "ticket", "zeros", "remainder-ten", "nine-digits", "eleven", "empty"],
)
def test_failing_check_digits(number: str) -> None:
    assert not nhs_check_digit_ok(number)


def test_the_check_digit_is_eleven_minus_the_weighted_remainder() -> None:
    # 9,4,3,4,7,6,5,9,1 weighted 10..2: 90+36+24+28+42+30+20+27+2 = 299; 299 % 11 = 2; 11 - 2 = 9.
    digits = [9, 4, 3, 4, 7, 6, 5, 9, 1]
    total = sum(w * d for w, d in zip(range(10, 1, -1), digits, strict=True))
    assert total == 299 and 11 - total % 11 == 9  # the tenth digit of 943 476 5919
    assert with_check_digit("000000000") == "0000000000"  # 11 becomes 0
    assert with_check_digit("703015925") is None  # 10 means no valid number


@pytest.mark.parametrize("text", ["NHS 943 476 5919", "nhs no: 9434765919", "943-476-5919.", "(943 476 5919)"])
def test_nhs_numbers_in_any_accepted_spacing(text: str) -> None:
    assert [kind for kind, _ in found(text)] == ["nhs_number"]


@pytest.mark.parametrize(
    "text",
    ["NHS 9434 765 919", "943 476-5919", "94347659190", "19434765919", "v943.476.5919"],
    ids=["4-3-3", "mixed-separators", "eleven-digits", "inside-a-longer-number", "dots"],
)
def test_other_groupings_are_not_nhs_numbers(text: str) -> None:
    assert "nhs_number" not in [kind for kind, _ in found(text)]


@pytest.mark.parametrize("cue", ["Order number", "ticket ref", "Invoice", "booking ref:", "tracking #", "Account"])
def test_a_valid_number_after_a_reference_cue_is_not_an_nhs_number(cue: str) -> None:
    assert found(f"{cue} 9434765919") == []


def test_no_failing_check_digit_is_ever_an_nhs_number() -> None:
    """5,000 random 10-digit numbers in the settings where NHS numbers appear."""
    rng = random.Random(2024)
    templates = ["NHS number {}", "nhs no: {}", "{}", "patient {} booked", "ref {}", "(NHS {})"]
    failing = 0
    for _ in range(5000):
        digits = "".join(rng.choice("0123456789") for _ in range(10))
        spaced = rng.choice([digits, f"{digits[:3]} {digits[3:6]} {digits[6:]}", f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"])
        for hit in scan(rng.choice(templates).format(spaced), today=TODAY):
            if hit.kind == "nhs_number":
                assert nhs_check_digit_ok(hit.text), hit
        failing += not nhs_check_digit_ok(digits)
    assert failing > 4000  # most random numbers fail the check, so the loop really tried them


# --- dates of birth ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "date_text"),
    [
        ("DOB 01/02/1960", "01/02/1960"),
        ("d.o.b. 01.02.60", "01.02.60"),
        ("D.O.B: 23/11/84", "23/11/84"),
        ("date of birth: 1 Feb 1960", "1 Feb 1960"),
        ("born on the 3rd of March 1958", "3rd of March 1958"),
        ("born February 1, 1960", "February 1, 1960"),
        ("Date of Birth - 1960-02-01", "1960-02-01"),
        ("DOB:07-Jan-52", "07-Jan-52"),
        ("14/09/1938 (DOB)", "14/09/1938"),
        ("82yo lady, 03/04/1941", "03/04/1941"),
        ("aged 67, 19/08/1957", "19/08/1957"),
        ("93 year old gent, 11/11/1931", "11/11/1931"),
    ],
)
def test_dates_with_a_birth_cue_are_dates_of_birth(text: str, date_text: str) -> None:
    assert found(text) == [("date_of_birth", date_text)]


@pytest.mark.parametrize(
    "text",
    [
        "Appointment at the dentist at 3pm on 12/03/2025",
        "Scan booked for 1 Feb 2025",
        "deadline is 31.01.25",
        "clinic moved to 2025-03-04",
        "born and bred in Leeds, started at the LGI on 01/09/2019",
        "pt 45yo male seen 12/03/2024",
        "DOB pending, appointment 12/03/2025 instead",
        "01/02/1960",
        "version 1.2.10",
    ],
)
def test_dates_without_a_birth_cue_are_not_reported(text: str) -> None:
    assert found(text) == []


def test_only_the_birth_date_is_reported_when_a_post_has_several_dates() -> None:
    assert found("DOB 01/02/1960; appointment 15/03/2025") == [("date_of_birth", "01/02/1960")]
    assert found("age 45, DOB 01/01/1979, seen 12/03/2024") == [("date_of_birth", "01/01/1979")]


# --- hospital numbers, postcodes, phones, e-mail -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("MRN 00873421", "00873421"),
        ("mrn: A1234567", "A1234567"),
        ("MRN-1234567", "1234567"),
        ("Hosp no K123456", "K123456"),
        ("patient ID 55512345", "55512345"),
        ("unit no. 456789X", "456789X"),
        ("hospital number is 123 4567", "123 4567"),
        ("RJ1 1234567 reported", "RJ1 1234567"),
        ("RTH-0012345", "RTH-0012345"),
    ],
)
def test_hospital_numbers_need_a_cue_or_a_trust_prefix(text: str, number: str) -> None:
    assert found(text) == [("hospital_number", number)]


@pytest.mark.parametrize("text", ["MRN for the new starter is pending", "patient number 4", "1234567", "RCR 2024"])
def test_numbers_without_a_hospital_cue_are_not_hospital_numbers(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    "postcode", ["LS1 4AP", "SW1A 2AA", "GIR 0AA", "M1 1AE", "EC1A1BB", "W1A 0AX", "DN55 1PT", "CF10 3AT", "ls6 3qq"]
)
def test_full_postcodes(postcode: str) -> None:
    assert found(f"lives at {postcode}, nice area") == [("postcode", postcode)]


@pytest.mark.parametrize(
    "text", ["stuck on the M1", "anyone in LS1 tonight?", "SW1A is Westminster", "vitamin b12 1mg", "room a1 5pm",
             "the w1 2nd floor", "flight BA123"]
)
def test_partial_postcodes_and_look_alikes_are_not_postcodes(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    "phone",
    ["07700 900123", "07700900456", "020 7946 0958", "+44 7700 900789", "+44 (0)20 7946 0123", "0113 496 0000",
     "(01632) 960123", "07700-900-321", "0044 7700 900654", "0300 123 4567", "+447700900111", "01632 96012"],
)
def test_uk_phone_numbers(phone: str) -> None:
    assert found(f"ring {phone} please") == [("phone", phone)]


@pytest.mark.parametrize(
    "text",
    ["Order 07700900123 dispatched", "invoice no 02079460958", "booking ref #0113496000", "£1,234.56",
     "version 2.10.3", "at 14:30 in room 0.12", "2019-2023", "0800 123 4567"],
)
def test_things_that_are_not_phone_numbers(text: str) -> None:
    assert found(text) == []


def test_a_ten_digit_number_that_passes_the_nhs_check_is_not_a_phone_number() -> None:
    assert nhs_check_digit_ok("0123456789") and nhs_check_digit_ok("0163296014")
    assert found("0123456789") == [("nhs_number", "0123456789")]
    assert found("012 345 6789") == [("nhs_number", "012 345 6789")]
    # ...unless the words before it say it is a phone number and it is written like one.
    assert found("call 01632 96014") == [("phone", "01632 96014")]
    assert found("call 0163296014") == []  # a 10-digit number written together needs +44 to be a phone
    assert found("+44 1632 96014") == [("phone", "+44 1632 96014")]


@pytest.mark.parametrize(
    "email", ["jo.bloggs@nhs.net", "J.Smith@trust.nhs.uk", "first_last99@gmail.com", "a+b@example.co.uk"]
)
def test_email_addresses(email: str) -> None:
    assert found(f"write to {email}.") == [("email", email)]


@pytest.mark.parametrize("text", ["@RCRadiologists hello", "meet @ 5", "user@localhost", "thanks @DrJones!"])
def test_handles_are_not_email_addresses(text: str) -> None:
    assert found(text) == []


# --- together ----------------------------------------------------------------------------------


def test_hits_are_sorted_and_never_overlap() -> None:
    text = "Mrs A, DOB 02/03/1950, NHS 943 476 5919, MRN 7712345, LS6 2UE, 07700 900555, a@b.com"
    hits = scan(text, today=TODAY)
    assert [h.kind for h in hits] == [
        "date_of_birth", "nhs_number", "hospital_number", "postcode", "phone", "email"
    ]
    assert all(a.end <= b.start for a, b in zip(hits, hits[1:], strict=False))
    assert all(text[h.start : h.end] == h.text for h in hits)
    assert hits[0].as_dict() == {"kind": "date_of_birth", "start": 11, "end": 21}


def test_empty_text() -> None:
    assert scan("") == []


def test_severity() -> None:
    nhs = PiiHit("nhs_number", 0, 10, "9434765919")
    phone = PiiHit("phone", 0, 12, "07700 900123")
    assert severity_for([nhs, phone]) == "critical"
    assert severity_for([PiiHit("date_of_birth", 0, 1, "x")]) == "critical"
    assert severity_for([PiiHit("hospital_number", 0, 1, "x")]) == "critical"
    assert severity_for([phone, PiiHit("email", 0, 1, "x"), PiiHit("postcode", 0, 1, "x")]) == "high"
    assert severity_for([]) is None


def test_kinds_sentence() -> None:
    hits = scan("NHS 943 476 5919, DOB 01/02/1960, 07700 900123", today=TODAY)
    assert kinds_sentence(hits) == "an NHS number, a date of birth and a phone number"


def test_highlight_escapes_the_text_and_marks_the_hits() -> None:
    text = "<script>alert('x')</script> NHS 943 476 5919 & DOB 01/02/1960 \"quoted\""
    html = str(highlight_html(text, scan(text, today=TODAY)))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&amp;" in html and "&#34;quoted&#34;" in html and "alert(&#39;x&#39;)" in html
    assert '<mark class="pii pii-nhs_number" title="NHS number">943 476 5919</mark>' in html
    assert '<mark class="pii pii-date_of_birth" title="date of birth">01/02/1960</mark>' in html
    assert html.count("<mark") == 2


def test_highlight_escapes_inside_a_hit_and_skips_bad_hits() -> None:
    text = "a<b>c"
    forged = [PiiHit("email", 0, 5, text), PiiHit("email", 2, 9, "x"), PiiHit("onclick", 0, 1, "a")]
    html = str(highlight_html(text, forged))
    assert html == '<mark class="pii pii-email" title="e-mail address">a&lt;b&gt;c</mark>'
    assert str(highlight_html("<i>", [])) == "&lt;i&gt;"


# --- measurement -------------------------------------------------------------------------------


def load_cases() -> list[dict]:
    return yaml.safe_load(CASES.read_text(encoding="utf-8"))["cases"]


def test_the_cases_file_is_well_formed() -> None:
    cases = load_cases()
    assert len(cases) >= 150
    for case in cases:
        assert set(case) == {"text", "hits"}, case
        for hit in case["hits"]:
            assert hit["kind"] in KINDS and hit["text"] in case["text"], case
            if hit["kind"] == "nhs_number":
                assert nhs_check_digit_ok(hit["text"]), hit
    decoys = [c for c in cases if not c["hits"]]
    assert len(decoys) >= 50
    # The 10-digit decoys really fail the check.
    assert sum(1 for c in decoys for w in c["text"].replace("-", "").split() if len(w) == 10 and w.isdigit()
               and not nhs_check_digit_ok(w)) >= 10


def test_precision_and_recall_per_kind(report) -> None:  # type: ignore[no-untyped-def]
    true_pos: Counter[str] = Counter()
    false_pos: Counter[str] = Counter()
    false_neg: Counter[str] = Counter()
    mistakes: list[str] = []
    for case in load_cases():
        expected = Counter((h["kind"], h["text"]) for h in case["hits"])
        got = Counter((h.kind, h.text) for h in scan(case["text"], today=TODAY))
        for key in expected | got:
            matched = min(expected[key], got[key])
            true_pos[key[0]] += matched
            false_pos[key[0]] += got[key] - matched
            false_neg[key[0]] += expected[key] - matched
        if expected != got:
            mistakes.append(f"  {case['text']!r}: expected {sorted(expected)}, got {sorted(got)}")
        for hit in scan(case["text"], today=TODAY):
            if hit.kind == "nhs_number":
                assert nhs_check_digit_ok(hit.text), f"failing check digit called an NHS number: {hit}"
    rows = []
    failures = []
    for kind in KINDS:
        tp, fp, fn = true_pos[kind], false_pos[kind], false_neg[kind]
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        rows.append(f"  {kind:<16} {tp + fn:>8} {tp:>5} {fp:>5} {fn:>5} {precision:>10.3f} {recall:>8.3f}")
        if precision < MINIMUM or recall < MINIMUM:
            failures.append(kind)
    report(f"PII detection over {CASES.name} ({len(load_cases())} snippets)",
           f"  {'kind':<16} {'expected':>8} {'tp':>5} {'fp':>5} {'fn':>5} {'precision':>10} {'recall':>8}",
           *rows, *(["  mismatches:", *mistakes] if mistakes else []))
    assert not failures, f"below {MINIMUM}: {failures}"
