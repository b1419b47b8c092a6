"""Settings: the study config as typed, frozen models (data, search space, evaluation, budget), strict
YAML reading, and the vocabulary of losses a config may name. The lowest wing: it imports only the floor."""
