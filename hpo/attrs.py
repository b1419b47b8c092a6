"""The names of everything hpo stores in an Optuna study: study and trial attributes, in one place.

The study is a normal Optuna study that other tools read (optuna-dashboard, notebooks) and may
write. Keeping the names here makes the stored record one documented schema.
"""

from __future__ import annotations

# Study user attributes.
CONFIG = "hpo_config"  # the validated study config, as JSON
CONFIG_DIGEST = "hpo_config_digest"  # sha256 of CONFIG as create-study validated it: workers refuse a changed one
FINGERPRINT = "hpo_data_fingerprint"  # sha256 of the training and dev data
DATA_SUMMARY = "hpo_data_summary"  # row counts of the loaded data
VERSION = "hpo_version"  # the hpo version that created the study
BASELINES = "hpo_baselines"  # zero-shot scores of the candidate base models
COMPLETE = "hpo_complete"  # set last by create-study: a study without it is half-created

# Study system attributes.
CREATOR = "hpo_creator"  # the create-study writing the study: host, pid, token, last beat

# Trial user attributes.
TRAINING = "training"  # the resolved hyperparameters of the run
FAIL_REASON = "fail_reason"
WARM_START = "warm_start"  # a queued known recipe
DEFAULT_RECIPE = "default_recipe"  # the task's default recipe: the baseline a search must beat (never pruned)
REPLACES_TRIAL = "replaces_trial"  # the number of the failed trial this one stands in for
WALL_SECONDS = "wall_seconds"
PRUNED_AT_SAMPLES = "pruned_at_samples"
INTERMEDIATE_CORPUS = "intermediate_corpus"
EVAL_CORPUS = "eval_corpus"
SECONDS = "seconds"  # per-phase timings
METRICS = "metrics"
METRIC_KEY = "metric_key"
SAMPLES_SEEN = "samples_seen"
TRAIN_SECONDS = "train_seconds"
EVAL_SECONDS = "eval_seconds"
TRAIN_SAMPLES_PER_SECOND = "train_samples_per_second"
PEAK_MEMORY_MB = "peak_memory_mb"
MEMORY_KIND = "memory_kind"  # what peak_memory_mb measured: CUDA allocations or the process RSS
DEVICE = "device"  # e.g. "cuda:0 (NVIDIA H100), bf16"
MINING_SECONDS = "mining_seconds"  # wall seconds spent getting the run's mined hard negatives
MINING_CACHE = "mining_cache"  # hit (mined negatives reused), embeddings (ranking reused) or miss
MINED_PAIRS = "mined_pairs"  # the miner, training pairs trained with negatives, and those left out
DIMENSION_METRICS = "dimension_metrics"  # the study metric at each evaluated embedding dimension
ITEM_SCORES = "item_scores"  # the dev score of each item (query, pair), compact (hpo.stats.item_scores)
SEED = "seed"  # the training seed of a trial that does not use the config's seed (confirmation runs)
CONFIRMS = "confirms_trial"  # a confirmation run: the number of the search trial whose params it retrains
DEVICE_SECONDS = "device_seconds"  # wall seconds the trial held its device (every end state)
DEVICE_TYPE = "device_type"  # the priced device kind: the GPU's name (e.g. "NVIDIA A10G") or "cpu"
DEVICE_SHARE = "device_share"  # the share of the device the worker had (1 / workers per GPU)
COST_USD = "cost_usd"  # dollars: device_seconds x share x the config's price for device_type
ENCODE_PER_SECOND = "encode_texts_per_second"  # texts the trained model encodes per second in its evaluations
EMBEDDING_DIM = "embedding_dim"  # the dimension of the embeddings the evaluations scored

# Trial system attributes.
CLAIMED = "hpo_claimed"  # taken from the queue by an hpo worker, which keeps its heartbeat
HEARTBEAT = "hpo_heartbeat"  # the heartbeat of a trial run through the gRPC proxy (no heartbeat table)

# Trial user attributes of GPU sharing (hpo worker --gpus N --per-gpu M).
GPU_ADMISSION = "gpu_admission"  # {estimate_mb, waited_seconds, free_mb}: how the trial was admitted to its GPU
NEIGHBOUR_OOM = "neighbour_oom_mb"  # on a trial crowded out of GPU memory: MiB other processes held
OOM_REQUEUES = "oom_requeues"  # on its replacement: how many times these params were crowded out
