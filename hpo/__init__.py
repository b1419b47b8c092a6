"""hpo: hyperparameter optimization for fine-tuning sentence-transformers embedding models."""

__version__ = "0.1.0"
