"""app/policy/suggest.py: the rules, the catalogue signals they read, and hit@3 on labelled posts."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from app.policy import Catalogues, Clause, load_catalogue, load_catalogues
from app.policy.suggest import Suggestion, suggest, suggest_clauses
from app.workflow.source import DefinitionError

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "workflows" / "policies"
LABELLED = ROOT / "tests" / "data" / "labelled_posts.yaml"


@pytest.fixture(scope="module")
def catalogues() -> Catalogues:
    return load_catalogues(POLICIES)


def keys(suggestions: list[Suggestion]) -> list[str]:
    return [s.clause for s in suggestions]


# --- the rules -----------------------------------------------------------------------------------

POLITICAL = "Everyone should vote Labour on Thursday, the Tories have had their chance"
CRITICAL = "The RCR is useless, a total waste of my membership fees"


def test_officer_only_clauses_score_only_for_officers(catalogues: Catalogues) -> None:
    officer = keys(suggest_clauses(POLITICAL, catalogues, author_role="officer"))
    assert {"rcr:2.22", "rcr:2.23", "rcr:2.24"} & set(officer)
    for role in ("contributor", None, "somebody else"):
        other = keys(suggest_clauses(POLITICAL, catalogues, author_role=role))
        assert not {"rcr:2.22", "rcr:2.23", "rcr:2.24"} & set(other), role


def test_contributor_only_clauses_do_not_score_for_officers(catalogues: Catalogues) -> None:
    assert "rcr:2.15" in keys(suggest_clauses(CRITICAL, catalogues, author_role="contributor"))
    assert "rcr:2.15" in keys(suggest_clauses(CRITICAL, catalogues))  # no role: treated as a contributor
    officer = keys(suggest_clauses(CRITICAL, catalogues, author_role="officer"))
    assert "rcr:2.20" in officer and "rcr:2.15" not in officer


def test_every_suggested_clause_applies_to_the_author(catalogues: Catalogues) -> None:
    posts = [p for half in load_labelled().values() for p in half]
    for post in posts:
        for suggestion in suggest_clauses(post["text"], catalogues, author_role=post["author_role"]):
            clause = catalogues.clause(suggestion.clause)
            wrong = "contributors" if post["author_role"] == "officer" else "officers"
            assert clause.applies_to != wrong, (post["text"], suggestion)


def test_pii_suggests_clause_2_8_naming_the_kinds(catalogues: Catalogues) -> None:
    text = "Lovely lady today, NHS 943 476 5919, DOB 01/02/1960"
    suggestions = suggest_clauses(text, catalogues)
    assert suggestions[0].clause == "rcr:2.8"
    assert "an NHS number and a date of birth" in suggestions[0].reason
    assert "943" not in suggestions[0].reason  # the reason names the kinds, it does not repeat them


def test_reasons_never_quote_an_identifier(catalogues: Catalogues) -> None:
    text = "Mr Jones, 07700 900123, is in bed 4 with cancer"
    reasons = " ".join(s.reason for s in suggest_clauses(text, catalogues, limit=10))
    assert "07700" not in reasons and "[phone number]" in reasons


def test_contact_details_suggest_clause_2_8_too(catalogues: Catalogues) -> None:
    suggestions = suggest_clauses("her email is sarah-k@hotmail.co.uk", catalogues)
    assert keys(suggestions)[:1] == ["rcr:2.8"] and "an e-mail address" in suggestions[0].reason


def test_reasons_quote_what_was_found(catalogues: Catalogues) -> None:
    [first, *_] = suggest_clauses("Spoke to a journalist from the Guardian this morning", catalogues)
    assert first.clause == "rcr:2.13"
    assert first.reason.startswith("mentions contact with a journalist or the media: ")
    assert "'journalist'" in first.reason


def test_a_typo_in_a_long_word_still_matches(catalogues: Catalogues) -> None:
    assert keys(suggest_clauses("spoke to a jouranlist today", catalogues))[:1] == ["rcr:2.13"]
    assert "rcr:2.13" not in keys(suggest_clauses("I reported it to my manager", catalogues))


def test_a_negative_phrase_damps_the_clause(catalogues: Catalogues) -> None:
    profile = "Bio: consultant radiologist | RCR examiner | cyclist"
    assert "rcr:2.4" in keys(suggest_clauses(profile, catalogues))
    assert "rcr:2.4" not in keys(suggest_clauses(profile + " | views my own", catalogues))


def test_context_counts_for_half_and_is_said(catalogues: Catalogues) -> None:
    text = "ok here's the full story then"  # one hint: not enough on its own
    assert suggest_clauses(text, catalogues) == []
    context = "Replying to a reporter who asked for a quote"
    [with_context] = suggest_clauses(text, catalogues, context=context)
    assert with_context.clause == "rcr:2.13"
    assert with_context.reason == (
        "mentions contact with a journalist or the media: 'story' (with the context: 'reporter', 'for a quote')"
    )
    # Context alone counts for half, so it needs more evidence than the post would.
    assert suggest_clauses("ok then", catalogues, context=context) == []
    strong = "A journalist and a reporter from the Times rang for a quote on the story for tomorrow's paper, TV too"
    [alone] = suggest_clauses("ok then", catalogues, context=strong)
    assert alone.clause == "rcr:2.13" and "(in the context: 'journalist', 'reporter')" in alone.reason
    # Context is never scanned for PII.
    assert suggest_clauses("thanks", catalogues, context="NHS 943 476 5919") == []


def test_limit_order_and_empty_text(catalogues: Catalogues) -> None:
    text = "That f***ing idiot journalist from the Mail is a liar, vote for me in the RCR elections"
    suggestions = suggest_clauses(text, catalogues, limit=10)
    assert len(suggestions) > 3
    assert [s.score for s in suggestions] == sorted((s.score for s in suggestions), reverse=True)
    assert suggest_clauses(text, catalogues) == suggestions[:3]
    assert suggest_clauses(text, catalogues, limit=1) == suggestions[:1]
    assert suggest_clauses("", catalogues) == [] and suggest_clauses("   ", catalogues) == []


def test_catalogue_keys_restrict_the_suggestions(catalogues: Catalogues) -> None:
    text = "Scrolling tiktok on the clock, f***ing boring list"
    assert {"employer:work-time-use", "rcr:2.9"} <= set(keys(suggest_clauses(text, catalogues)))
    only_rcr = suggest_clauses(text, catalogues, catalogue_keys={"rcr"})
    assert keys(only_rcr) and all(k.startswith("rcr:") for k in keys(only_rcr))


def test_benign_posts_get_nothing(catalogues: Catalogues) -> None:
    for text in ["Great day at the conference!", "Anyone know a good MSK course?", "Coffee time ☕"]:
        assert suggest_clauses(text, catalogues) == []


def test_the_api_shape(catalogues: Catalogues) -> None:
    text = "Spoke to a journalist, my number is 07700 900123"
    result = suggest(text, catalogues, author_role="contributor")
    assert set(result) == {"clauses", "pii"}
    start = text.index("07700")
    assert result["pii"] == [{"kind": "phone", "start": start, "end": start + len("07700 900123")}]
    assert {"rcr:2.13", "rcr:2.8"} <= {c["clause"] for c in result["clauses"]}
    assert all(set(c) == {"clause", "reason"} for c in result["clauses"])


def test_a_plain_list_of_clauses_works_too(catalogues: Catalogues) -> None:
    clauses = [c for c in catalogues.all_current() if c.catalogue == "rcr"]
    assert keys(suggest_clauses("spoke to a journalist", clauses)) == ["rcr:2.13"]


def test_clauses_without_signals_are_never_suggested(catalogues: Catalogues) -> None:
    silent = {c.key for c in catalogues.all_current() if not c.signals}
    assert "rcr:2.31" in silent  # handling clauses describe outcomes, not what a post says
    posts = [p for half in load_labelled().values() for p in half]
    for post in posts:
        assert not silent & set(keys(suggest_clauses(post["text"], catalogues, author_role=post["author_role"])))


def test_a_clause_built_without_signals_still_works() -> None:
    clause = Clause(key="x:1", catalogue="x", number="1", title="t", summary="s", applies_to="both",
                    severity="low", path="problem-solving", version="v")
    assert not clause.signals and suggest_clauses("anything at all", [clause]) == []


# --- signals in a catalogue file -----------------------------------------------------------------

CATALOGUE = """\
key: demo
title: Demo policy
source: Written for the tests
versions:
  - version: "2024-01"
    effective_from: 2024-01-01
    clauses:
      - number: "1"
        title: Cake
        summary: One line.
        applies_to: both
        severity: low
        path: problem-solving
        signals:
          reason: talks about cake
          phrases: [victoria sponge, bake*]
          hints: [tea, cream]
          patterns:
            - '\\bcake{PATTERN}'
          examples:
            - "brought a lemon drizzle into the department and it vanished in minutes"
          negative: [no cake]
"""


def write(tmp_path: Path, pattern: str = "s?\\b", extra: str = "") -> Path:
    path = tmp_path / "demo.yaml"
    path.write_text(CATALOGUE.replace("{PATTERN}", pattern) + textwrap.indent(extra, " " * 10))
    return path


def test_signals_load_and_score(tmp_path: Path) -> None:
    clause = load_catalogue(write(tmp_path)).current.clauses["1"]
    assert clause.signals.reason == "talks about cake" and len(clause.signals.patterns) == 1
    assert keys(suggest_clauses("Who ate all the cakes", [clause])) == ["demo:1"]  # a pattern
    assert keys(suggest_clauses("my Victoria-sponge is better", [clause])) == ["demo:1"]  # a phrase
    assert keys(suggest_clauses("baked all night", [clause])) == ["demo:1"]  # a phrase with a wildcard
    assert suggest_clauses("tea time", [clause]) == []  # one hint is not enough...
    assert keys(suggest_clauses("tea and cream", [clause])) == ["demo:1"]  # ...two are
    [by_example] = suggest_clauses("someone brought lemon drizzle to the department, gone in minutes", [clause])
    assert by_example.reason.startswith("talks about cake (reads like 'brought a lemon drizzle")
    assert suggest_clauses("there was no cake today", [clause]) == []  # the negative phrase


def find_line(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_a_bad_regular_expression_stops_loading_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, pattern="(unclosed")
    with pytest.raises(DefinitionError) as caught:
        load_catalogue(path)
    error = caught.value
    assert error.path == str(path)
    assert error.line == find_line(path, "(unclosed")
    assert error.message.startswith("signals 'patterns' entry 1 is not a valid regular expression: missing ), ")
    assert str(error).startswith(f"{path}, line {error.line}: ")


def test_the_shipped_loader_refuses_a_bad_regex_in_a_folder(tmp_path: Path) -> None:
    write(tmp_path, pattern="[z-a]")
    with pytest.raises(DefinitionError) as caught:
        load_catalogues(tmp_path)
    assert "bad character range" in caught.value.message and caught.value.line == find_line(tmp_path / "demo.yaml", "[z-a]")


@pytest.mark.parametrize(
    ("pattern", "extra", "needle", "message"),
    [
        ("|", "", "cake|", "signals 'patterns' entry 1 matches empty text, so it would match every post"),
        ("", "surprise: true\n", "surprise:",
         "signals has no key 'surprise' (it takes: reason, phrases, patterns, hints, hint_patterns, examples, "
         "negative, pii, weight)"),
        ("", "pii: [nhs_number, shoe_size]\n", "pii:",
         "unknown PII kind 'shoe_size'; the kinds are nhs_number, date_of_birth, hospital_number, postcode, "
         "phone, email"),
        ("", "weight: -1\n", "weight:", "signals 'weight' must be a number above 0 and at most 10"),
        ("", "hint_patterns: ['(?P<x']\n", "hint_patterns:",
         "signals 'hint_patterns' entry 1 is not a valid regular expression: missing >, unterminated name "
         "(at position 4)"),
    ],
    ids=["empty-match", "unknown-key", "unknown-pii-kind", "weight", "bad-hint-pattern"],
)
def test_other_signal_mistakes(tmp_path: Path, pattern: str, extra: str, needle: str, message: str) -> None:
    path = write(tmp_path, pattern=pattern, extra=extra)
    with pytest.raises(DefinitionError) as caught:
        load_catalogue(path)
    assert caught.value.message == message
    assert caught.value.line == find_line(path, needle)


def test_signals_need_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(CATALOGUE.replace("{PATTERN}", "").replace("          reason: talks about cake\n", ""))
    with pytest.raises(DefinitionError) as caught:
        load_catalogue(path)
    assert caught.value.message == "signals need a 'reason': a few words saying what the signals point at"
    assert caught.value.line == find_line(path, "signals:")


# --- measurement over labelled posts -------------------------------------------------------------

DEV_MINIMUM = 0.8
HELD_OUT_MINIMUM = 0.8  # the issue: the right clause among three suggestions in 8 posts out of 10
BENIGN_MEAN_MAXIMUM = 0.5


def load_labelled() -> dict[str, list[dict]]:
    data = yaml.safe_load(LABELLED.read_text(encoding="utf-8"))
    return {"development": data["development"], "held_out": data["held_out"]}


def test_the_labelled_posts_are_well_formed(catalogues: Catalogues) -> None:
    halves = load_labelled()
    posts = [p for half in halves.values() for p in half]
    assert len(posts) >= 120
    assert sum(1 for p in posts if not p["clauses"]) >= 30
    assert all(sum(1 for p in half if not p["clauses"]) >= 15 for half in halves.values())
    texts = [p["text"] for p in posts]
    assert len(texts) == len(set(texts)), "a post appears twice"
    for post in posts:
        assert set(post) == {"text", "author_role", "clauses"}, post
        assert post["author_role"] in ("officer", "contributor"), post
        for key in post["clauses"]:
            assert catalogues.known(key), (key, post["text"])


def measure(posts: list[dict], catalogues: Catalogues) -> dict[str, float]:
    breaches = [p for p in posts if p["clauses"]]
    benign = [p for p in posts if not p["clauses"]]
    hits = 0
    for post in breaches:
        suggested = keys(suggest_clauses(post["text"], catalogues, author_role=post["author_role"], limit=3))
        assert len(suggested) <= 3
        hits += any(key in post["clauses"] for key in suggested)
    counts = [len(suggest_clauses(p["text"], catalogues, author_role=p["author_role"])) for p in benign]
    return {
        "breaches": len(breaches),
        "hits": hits,
        "hit_at_3": hits / len(breaches),
        "benign": len(benign),
        "benign_mean": sum(counts) / len(benign),
        "benign_none": sum(1 for c in counts if c == 0) / len(benign),
    }


def test_hit_at_3_and_benign_posts(catalogues: Catalogues, capsys: pytest.CaptureFixture[str]) -> None:
    results = {name: measure(posts, catalogues) for name, posts in load_labelled().items()}
    with capsys.disabled():
        print(f"\nClause suggestions over {LABELLED.name}")
        print(f"  {'set':<12} {'breach posts':>12} {'hit@3':>14} {'benign posts':>13} {'mean sugg.':>11} {'none':>7}")
        for name, r in results.items():
            print(f"  {name:<12} {r['breaches']:>12} {r['hits']:>5}/{r['breaches']:<3} {r['hit_at_3']:>5.3f}"
                  f" {r['benign']:>13} {r['benign_mean']:>11.2f} {r['benign_none']:>7.0%}")
    dev, held_out = results["development"], results["held_out"]
    assert dev["hit_at_3"] >= DEV_MINIMUM
    assert held_out["hit_at_3"] >= HELD_OUT_MINIMUM
    assert dev["benign_mean"] <= BENIGN_MEAN_MAXIMUM and held_out["benign_mean"] <= BENIGN_MEAN_MAXIMUM


# --- the screen (suggest.py screens a text once instead of searching every phrase and pattern) -----------

def _texts() -> list[str]:
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and len(value) > 12:
            found.append(value)

    walk(yaml.safe_load(LABELLED.read_text(encoding="utf-8")))
    found = found[:100]
    # The four characters outside ASCII that re.IGNORECASE matches to ASCII letters, capitals, typos.
    odd = [t.replace("i", "\u0131").replace("s", "\u017f").replace("k", "\u212a") for t in found[::3]]
    typos = [t.replace("journalist", "journalsit").replace("patient", "patinet") for t in found[::2]]
    return found + odd + [t.upper() for t in found[::4]] + typos


def test_the_screen_gives_the_same_suggestions_as_searching_everything(catalogues: Catalogues,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import app.policy.suggest as module

    texts = _texts()
    contexts = [None, "the Telegraph asked me about the ward manager"]
    screened = [[(s.clause, s.reason, s.score) for s in suggest_clauses(t, catalogues, author_role=role,
                                                                         context=c, limit=5)]
                for t in texts for role in (None, "officer") for c in contexts]
    # Without the screen: no phrase filed by its first word, no pattern skipped, every clause scored.
    monkeypatch.setattr(module, "_anchor", lambda phrase: None)
    monkeypatch.setattr(module, "_pattern_needs", lambda pattern: None)
    monkeypatch.setattr(module._Index, "may_score", lambda self, clause, post, kinds: True)
    monkeypatch.setattr(module, "_INDEXES", {})
    plain = [[(s.clause, s.reason, s.score) for s in suggest_clauses(t, catalogues, author_role=role,
                                                                      context=c, limit=5)]
             for t in texts for role in (None, "officer") for c in contexts]
    assert len(texts) > 100 and sum(map(bool, plain)) > 100
    assert screened == plain


def test_what_a_regular_expression_needs() -> None:
    import re

    from app.policy.suggest import _pattern_needs

    assert _pattern_needs(re.compile(r"\bmore radiation than\b", re.I)) == ("more radiation than",)
    # Each alternative needs what its part needs; the group with the longer texts is kept.
    assert _pattern_needs(re.compile(r"\b(?:causes?|gives? you)\s+(?:cancer|autism)\b", re.I)) == ("autism",
                                                                                            "cancer")
    assert _pattern_needs(re.compile(r"(?:^|\s)@\w+", re.I)) == ("@",)
    assert _pattern_needs(re.compile(r"\d{3}\s?\w+", re.I)) is None  # nothing literal: always searched
    assert _pattern_needs(re.compile(r"caf\u00e9", re.I)) is None  # a letter with a case outside ASCII
