"""Fine-tuning objectives, one module per task.

This package's top level holds only light metadata (:mod:`objectives.registry`); the modules
that train import torch and sentence-transformers lazily, through :func:`load_objective`.
"""

from objectives.registry import OBJECTIVES, ObjectiveSpec, load_objective

__all__ = ["OBJECTIVES", "ObjectiveSpec", "load_objective"]
