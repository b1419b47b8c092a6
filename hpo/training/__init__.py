"""The fine-tuning engine: one training run of any task, and what a worker process reuses between runs.

Modules here import torch and sentence-transformers inside their functions, so importing them is
cheap; nothing in this package knows a particular task (see :mod:`hpo.training.task`).
"""
