"""Word lists for generated text: names, titles and post text with a realistic spread of term frequencies.

Post text draws content words from a Zipf distribution over ``VOCABULARY`` (real words first, then
made-up ones), so a generated database always has very common, common and rare terms for the
search benchmark. The vocabulary does not depend on the seed: the same words sit at the same ranks
in every generated database; only which posts contain them changes.
"""

from __future__ import annotations

import itertools
import random
from functools import lru_cache


def _split(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(text.split()))


FIRST_NAMES = _split(
    "Aaliyah Abdul Ada Adebayo Aisha Alex Alice Amara Amir Ana Andrew Anil Anna Aoife Arjun Ben Bethan Bilal "
    "Bronwen Callum Catherine Chen Chidi Chloe Chris Ciara Connor Dana Daniel David Deepa Declan Dev Ebony Eilidh "
    "Elena Eleri Emeka Emma Eoin Erin Ewan Farah Fatima Fiona Finn Gareth Grace Hamza Hannah Harriet Hassan Helen "
    "Ibrahim Imogen Isla Jack James Jamal Jasmine Jordan Joseph Kai Karen Kemi Kieran Laila Laura Leah Liam Lucy "
    "Mairead Maria Mark Maya Mei Michael Mohammed Morgan Naomi Niamh Nikhil Noah Olu Olivia Omar Owen Patrick Pooja "
    "Priya Rachel Rae Rahul Rhys Robin Rosa Ruth Sam Sana Sarah Seren Shona Simon Siobhan Sofia Steven Tariq Thomas "
    "Tom Una Usman Vikram Wei Yasmin Yusuf Zara Zoe"
)

LAST_NAMES = _split(
    "Abbott Adeyemi Ahmed Ali Anderson Armstrong Bailey Baker Banerjee Barnes Begum Bell Bennett Brown Burns "
    "Campbell Carter Chapman Chen Clarke Collins Cooper Cox Davies Dixon Doherty Edwards Ellis Evans Fernandes "
    "Fraser Gallagher Ghosh Gill Graham Grant Green Griffiths Hall Harris Hughes Hussain Iqbal Jackson James Jenkins "
    "Johnson Jones Kaur Kelly Khan Kumar Lee Lewis Lloyd MacDonald Mahmood Martin Mason McCarthy McLean Miller "
    "Mitchell Moore Morgan Morris Murphy Murray Nguyen Nwosu O'Brien Okafor Owen Parker Patel Phillips Powell Price "
    "Quinn Rahman Reid Reynolds Richards Roberts Robertson Robinson Rose Ryan Scott Shah Sharma Singh Smith "
    "Stewart Taylor Thomas Thompson Turner Walker Walsh Ward Watson White Williams Wilson Wood Wright Young"
)

OFFICES = ("President", "Vice-President, Clinical Radiology", "Vice-President, Clinical Oncology", "Dean",
           "Registrar", "Treasurer", "Chair, Trainees Committee", "Regional Chair", "Medical Director")

# Function words sit between content words; they make text read naturally and are stop words in FTS.
FUNCTION_WORDS = ("the", "a", "of", "to", "and", "in", "is", "for", "on", "with", "this", "that", "it", "at",
                  "are", "be", "by", "not", "from", "our", "your", "their", "was", "have", "has", "about")

# Real content words, most frequent first: they take the top Zipf ranks.
REAL_WORDS = _split(
    "patients hospital staff college trust waiting list radiology scan department consultant nhs today report "
    "members training exam fees registrar trainees shift rota union manager employer policy post comment "
    "disgrace shameful honestly everyone management board meeting week month year figures numbers data "
    "safety care clinic ward emergency imaging mri ct ultrasound oncology cancer diagnosis results delay "
    "delays backlog target targets funding cuts pay strike ballot vote petition survey conference annual "
    "guidance standards regulator complaint investigation hearing appeal tribunal dismissal warning sanction "
    "registration fitness practise panel decision outcome evidence screenshot thread reply tagged retweet "
    "share link article journal press journalist interview quote statement apology removal deleted account "
    "profile disclaimer opinion views personal professional conduct behaviour respect colleague colleagues "
    "bullying harassment abuse hostile antagonistic troll trolls block blocked reported platform story video "
    "photo image picture label patient identifiable confidential privacy breach consent permission logo brand "
    "website newsletter campaign event webinar course certificate portfolio appraisal revalidation supervisor "
    "deanery workforce vacancies locum agency overtime burnout wellbeing morale leadership chief executive "
    "minister government health secretary parliament budget spending review reform strategy plan pilot ai "
    "artificial intelligence software system outage downtime it cyber attack email phone call letter notice "
    "deadline time limit weeks days extension agreed refused upheld dismissed varied withdrawn settled "
    "conciliation acas claim lodged response listed judgment order interim review restoration struck"
)

HASHTAGS = ("#NHS", "#radiology", "#MedTwitter", "#RadTwitter", "#oncology", "#juniordoctors", "#strike",
            "#patientsafety", "#AI", "#waitinglists", "#FOAMrad", "#ESR", "#UKRCR", "#nursing", "#union")

TITLE_TEMPLATES = {
    "reported_post": ("{who}'s post about {a} {b}", "Reported {platform} post on {a} and {b}",
                      "{who} criticises {a} {b} in public", "Post by {who} names a {a} {b}"),
    "antagonistic_tag": ("{who} tagged in a hostile thread about {a}", "Antagonistic tag: {a} {b}"),
    "press_approach": ("Journalist asks {who} about {a} {b}", "Press enquiry on {a} {b}"),
    "harassment": ("{who} receiving abuse over {a}", "Harassment complaint about {a} {b}"),
    "brand_request": ("Request to use the logo for a {a} {b}", "Brand permission: {a} {b}"),
    "member_case": ("{who} facing disciplinary over {a} {b}", "Member's case: {a} {b}"),
    "tribunal": ("Tribunal time limit for {who} ({a})", "Claim about {a} {b}"),
    "regulator": ("Fitness to practise concern about {who}: {a}", "Regulator case: {a} {b}"),
    "advice": ("Advice for {who} about {a}", "Member asks about {a} {b}"),
    "subject_access": ("Subject access request from {who}", "{who} asks for the data held about {a}"),
}


def _syllable_words(count: int) -> list[str]:
    """Deterministic made-up words ("bralen", "tomiskar", …) for the long tail of the vocabulary."""
    rng = random.Random(20260101)
    onsets = ["b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "j", "k", "l", "m", "n", "p", "pr", "r", "s",
              "sh", "st", "t", "tr", "v", "w", "z"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ou"]
    codas = ["", "", "n", "r", "l", "s", "m", "k", "nd", "st"]
    seen = set(REAL_WORDS) | set(FUNCTION_WORDS)
    words: list[str] = []
    while len(words) < count:
        parts = rng.randint(2, 3)
        word = "".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(parts))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


VOCABULARY_SIZE = 30_000
ZIPF_EXPONENT = 1.0


@lru_cache(maxsize=1)
def vocabulary() -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The content-word vocabulary (most frequent first) and its cumulative Zipf weights."""
    words = tuple(REAL_WORDS) + tuple(_syllable_words(VOCABULARY_SIZE - len(REAL_WORDS)))
    weights = [1.0 / (rank ** ZIPF_EXPONENT) for rank in range(1, len(words) + 1)]
    return words, tuple(itertools.accumulate(weights))


def search_terms() -> dict[str, str]:
    """Terms of known frequency tiers, for the (future) search benchmark.

    With ~16 content words a post: rank 1 is in ~75% of posts, rank 60 in ~2%, rank 8,000 in ~0.02%.
    Each post also carries, with probability 0.3, a one-off token ``q<base36>`` (about one post each).
    """
    words, _ = vocabulary()
    return {"very_common": words[0], "common": words[59], "rare": words[7999]}
