"""Verdicts: paired comparisons of two models on the same items (WIN, MARGINAL, TIE, REGRESSION),
the verdicts of a study's trials against each other and the zero-shot baselines, and the dashboard
note that shows them."""
