"""Data readers every task uses: raw rows from files, the Hub or the demo set; field readers with
precise errors; deterministic split carving; BM25; the capped corpus; text pairs; the fingerprint.

Which columns a task reads, and how its rows become training and evaluation data, is the task's
own business (:mod:`objectives`).
"""
