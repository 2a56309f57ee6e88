"""Near-duplicate detection of element names (docs/registry.md, "Similarity").

Names are normalised (NFKC folds full-width to half-width, then case-folding, then every punctuation,
symbol and space is removed) and compared with RapidFuzz's normalised Indel similarity
(`fuzz.ratio`, 0-100). English names are also compared word-order-insensitively (`token_sort_ratio`
on the words), so "Birth date" matches "Date of birth". Two elements are near-duplicates when any
pair of their names (Chinese, English, aliases) scores at least SIMILARITY_THRESHOLD.
"""

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz

SIMILARITY_THRESHOLD = 85.0


def _words(name: str) -> str:
    folded = unicodedata.normalize("NFKC", name).casefold()
    kept = (ch if unicodedata.category(ch)[0] not in "PSZC" else " " for ch in folded)
    return " ".join("".join(kept).split())


def normalise(name: str) -> str:
    """NFKC, case-folded, without punctuation, symbols or whitespace."""
    return _words(name).replace(" ", "")


def similarity(a: str, b: str) -> float:
    """How alike two names are, 0-100."""
    compact_a, compact_b = normalise(a), normalise(b)
    if not compact_a or not compact_b:
        return 0.0
    return max(fuzz.ratio(compact_a, compact_b), fuzz.token_sort_ratio(_words(a), _words(b)))


@dataclass(frozen=True, slots=True)
class Match:
    """The best-matching pair of names of two elements."""

    score: float
    name: str
    other_name: str


def best_match(names: Iterable[str], other_names: Iterable[str]) -> Match:
    """The most similar pair between two sets of names."""
    best = Match(0.0, "", "")
    others = [n for n in other_names if n]
    for name in names:
        if not name:
            continue
        for other in others:
            score = similarity(name, other)
            if score > best.score:
                best = Match(score, name, other)
    return best
