"""BM25 and the capped evaluation corpus it chooses."""

from __future__ import annotations

from hpo.data.corpus import capped_ids, capped_size
from hpo.data.lexical import bm25_rankings, words

CORPUS = {
    "p1": "Aspirin after a heart attack lowers the risk of a second one.",
    "p2": "Treatment of heart attack: aspirin, beta blockers and statins.",
    "p3": "Football results of the weekend.",
    "p4": "A recipe for pasta with tomato sauce.",
    "p5": "Heart rate rises during exercise.",
}


def test_words_are_lowercase_word_characters() -> None:
    assert words("Heart-attack, TREATMENT (2024)") == ["heart", "attack", "treatment", "2024"]


def test_bm25_ranks_passages_sharing_rare_query_words_first() -> None:
    [ranking] = bm25_rankings(["heart attack treatment"], CORPUS, exclude={"p1"})
    assert ranking == ["p2", "p5"]  # passages without a query word are not ranked at all


def test_capped_corpus_keeps_the_hardest_negatives() -> None:
    queries, relevant = ["heart attack treatment"], {"p1"}
    assert capped_ids(CORPUS, queries, relevant, 2, seed=0) == {"p1", "p2"}
    four = capped_ids(CORPUS, queries, relevant, 4, seed=0)
    assert four is not None and four >= {"p1", "p2", "p5"}  # topped up at random
    random_four = capped_ids(CORPUS, queries, relevant, 4, seed=0, negatives="random")
    assert random_four is not None and len(random_four) == 4
    assert capped_ids(CORPUS, queries, relevant, None, seed=0) is None
    assert capped_size(5, 1, 4) == 4 and capped_size(5, 1, None) == 5
