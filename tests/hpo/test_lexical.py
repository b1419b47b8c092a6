from __future__ import annotations

from hpo.data.lexical import bm25_rankings, words
from hpo.data.model import RetrievalData, RetrievalSplit

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
    split = RetrievalSplit({"q": "heart attack treatment"}, {"q": frozenset({"p1"})})
    data = RetrievalData([], split, CORPUS)
    assert set(data.capped_corpus(split, 2, seed=0)) == {"p1", "p2"}
    assert set(data.capped_corpus(split, 4, seed=0)) >= {"p1", "p2", "p5"}  # topped up at random
    assert len(data.capped_corpus(split, 4, seed=0, negatives="random")) == 4
    assert data.capped_size(split, 4) == 4 and data.capped_size(split, None) == 5
