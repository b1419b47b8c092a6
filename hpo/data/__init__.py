"""Load a study's data once: read the splits, map columns, validate rows, carve dev/test, fingerprint.

The retrieval objective needs ``query`` and either ``positive`` or ``relevant_ids`` plus a corpus;
pair classification needs ``text1``, ``text2`` and ``label`` (0/1). The test split is loaded only
when asked for, so nothing in a search can see it.
"""

from hpo.data.loading import load_data
from hpo.data.model import PairData, PairSplit, RetrievalData, RetrievalSplit, StudyData

__all__ = [
    "PairData",
    "PairSplit",
    "RetrievalData",
    "RetrievalSplit",
    "StudyData",
    "load_data",
]
