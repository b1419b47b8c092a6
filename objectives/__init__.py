"""Fine-tuning tasks: the task contract (:mod:`hpo.training.task`), one module per task, and the registry.

A task may own helper modules named after it (``retrieval_data``, ``similarity_evaluator``...),
imported by that task alone: its evaluator (which imports sentence-transformers, so the task
imports it inside a method), or a part of a large task. Kept free of imports so that the
training engine can depend on the contract alone.
"""
