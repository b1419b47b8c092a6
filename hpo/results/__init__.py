"""What a study produces: a new study from a config file, zero-shot baselines, confirmation runs,
the best trial exported to YAML (or the best under a cost limit), the final retrain with its test
and model card, evaluations of any model, and the quality-vs-cost fronts."""
