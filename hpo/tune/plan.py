"""A plan that fits the budget: from what the probe measured to the study a careful user would run.

Pure functions of their inputs (probe figures, data sizes, budget, workers): no training, no I/O,
so every choice can be tested and explained. The plan spends the budget in phases: the probe
(already spent), zero-shot baselines, the search (the task's default recipe is its first trial),
confirmation of the best configs with new seeds when the budget allows, and the final retrain of
the winner and of the default recipe, each tested. A reserve of 4% absorbs what runs late.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

RESERVE = 0.04  # of the budget, kept for what runs late and for start-up
# The minimum a refusal suggests leaves room for the next probe to measure slower: measured again
# on a shared 2-core machine, Quora's fixed phases came to 8.2 min where a first probe said 6.9.
PROBE_MARGIN = 1.25
MIN_TRIALS = 4  # below this a search is not worth its name: fewer, smaller trials instead
TARGET_TRIALS = 16  # trials a search aims for before it spends more per trial
EVALS_PER_TRIAL = 4  # intermediate evaluations in a trial's first epoch
EVAL_SHARE = 0.25  # the most of a trial's time its evaluations may take (caps the corpus)
PRUNED_SHARE = 0.6  # what a pruned trial costs, as a share of a whole one (median pruner)
BATCH_SIZES = (16, 32, 64)
WORKER_START = 15.0  # seconds a worker process takes to start and load the data, per phase that runs one
MIN_EVAL_ITEMS = 200  # fewer dev or test items than this decide nothing
DEFAULT_BATCH = 32


class BudgetTooShortError(ValueError):
    """Not even the smallest plan fits the budget."""


@dataclass(frozen=True)
class ModelProbe:
    """What the probe measured for one candidate base model on this hardware."""

    model: str
    train_samples_per_second: dict[int, float]  # batch size -> samples/s, for the batch sizes that fit
    encode_texts_per_second: float
    load_seconds: float = 0.0

    def fastest_batch(self) -> int:
        return max(self.train_samples_per_second, key=lambda b: self.train_samples_per_second[b])

    def speed(self, batch_sizes: tuple[int, ...]) -> float:
        """Samples/s averaged over ``batch_sizes`` (the ones it did not measure: its slowest)."""
        slowest = min(self.train_samples_per_second.values())
        return sum(self.train_samples_per_second.get(b, slowest) for b in batch_sizes) / len(batch_sizes)


@dataclass(frozen=True)
class DataSizes:
    """How big the data is, in what training and evaluation cost."""

    train: int  # training samples (pairs) in one epoch
    dev_items: int  # dev queries or pairs
    test_items: int
    dev_texts: int  # texts one full dev evaluation encodes (queries and corpus, or both sides of each pair)
    test_texts: int
    corpus: int = 0  # passages in the corpus (0: no corpus to cap)
    relevant: int = 0  # passages relevant to a dev query (always kept in a capped corpus)


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float


@dataclass(frozen=True)
class Plan:
    """Every choice of a tune run, with the predicted seconds of each phase."""

    models: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    epochs: tuple[int, int]
    max_train_samples: int | None
    max_dev_items: int | None  # a seeded subset of dev (queries or pairs) when the full one costs too much
    max_test_items: int | None
    every_samples: int
    corpus_cap: int | None
    final_corpus: str
    n_trials: int
    workers: int
    confirm_top_k: int
    confirm_seeds: int
    hard_negatives: bool
    trial_seconds: float
    phases: tuple[Phase, ...]
    test_texts: int = 0  # texts a test evaluation encodes (the final phase tests two models)
    notes: tuple[str, ...] = field(default=())

    def predicted(self) -> dict[str, float]:
        return {phase.name: phase.seconds for phase in self.phases}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["phases"] = self.predicted()
        return data


@dataclass(frozen=True)
class Budget:
    """Wall seconds to spend, of which ``spent`` are gone (the probe)."""

    seconds: float
    spent: float = 0.0

    @property
    def left(self) -> float:
        return max(0.0, self.seconds * (1 - RESERVE) - self.spent)


def make_plan(probes: list[ModelProbe], sizes: DataSizes, budget: Budget, workers: int = 1) -> Plan:
    """The plan for ``budget`` on this hardware; the first probe is the default recipe's model.

    The most candidates whose plan still gives each of them ``MIN_TRIALS`` trials; else the first
    candidate alone, with the smallest trials that still learn something.
    """
    if not probes:
        raise ValueError("no candidate model could be probed")
    for count in range(len(probes), 1, -1):
        plan = _plan_for(probes[:count], sizes, budget, workers)
        if plan.n_trials >= MIN_TRIALS * count:
            left_out = [f"{p.model} left out: the budget buys too few of its trials" for p in probes[count:]]
            return _with_notes(plan, left_out)
    plan = _plan_for(probes[:1], sizes, budget, workers)
    needed = sum(plan.predicted().values())
    if needed > budget.seconds * (1 - RESERVE):
        shortest = math.ceil(needed * PROBE_MARGIN / (1 - RESERVE) / 60)
        raise BudgetTooShortError(
            f"the budget is too short here: one trial, the zero-shot scores and the final tests alone take "
            f"about {needed / 60:.1f} min on this hardware; give at least {shortest}m"
        )
    return _with_notes(plan, [f"{p.model} left out: the budget buys too few of its trials" for p in probes[1:]])


def _with_notes(plan: Plan, notes: list[str]) -> Plan:
    return Plan(**{**plan.__dict__, "notes": (*notes, *plan.notes)})


@dataclass(frozen=True)
class _Trials:
    """The shape of one search trial: training samples, epochs, evaluations, corpus, seconds."""

    samples: int
    epochs: tuple[int, int]
    every: int
    cap: int | None
    final_full: bool
    seconds: float


def _plan_for(models: list[ModelProbe], sizes: DataSizes, budget: Budget, workers: int) -> Plan:
    full = sizes
    sizes, notes = _fit_fixed_costs(models, sizes, budget)
    baselines = sum(zero_shot_seconds(p, sizes) for p in models)
    batches = tuple(b for b in BATCH_SIZES if all(b in p.train_samples_per_second for p in models)) or (
        min(b for p in models for b in p.train_samples_per_second),
    )
    search = budget.left - baselines - WORKER_START
    trials = _shape_trials(models, sizes, search, batches)
    if trials.samples < sizes.train:
        notes.append(f"trials train on a seeded {trials.samples:,} of the {sizes.train:,} training samples")
    final = _final_seconds(models[0], sizes, trials.seconds)
    expected = trials.seconds * (1 + PRUNED_SHARE) / 2  # about half the trials are pruned, early or late
    top_k, seeds = _confirmation(trials.seconds, max(1, int((search - final) * workers / expected)), workers)
    confirm = (WORKER_START + top_k * seeds * trials.seconds / workers) if top_k else 0.0
    n_trials = max(1, int((search - final - confirm) * workers / expected))
    if n_trials < MIN_TRIALS:
        notes.append(f"only {n_trials} trial(s) fit: a longer budget would search more")
    phases = {
        "probe": budget.spent,
        "baselines": baselines,
        "search": WORKER_START + n_trials * expected / workers,
        "confirm": confirm,
        "final": final,
    }
    return Plan(
        models=tuple(p.model for p in models),
        batch_sizes=batches,
        epochs=trials.epochs,
        max_train_samples=trials.samples if trials.samples < sizes.train else None,
        max_dev_items=sizes.dev_items if sizes.dev_items < full.dev_items else None,
        max_test_items=sizes.test_items if sizes.test_items < full.test_items else None,
        every_samples=trials.every,
        corpus_cap=trials.cap,
        final_corpus="full" if trials.final_full or sizes.corpus == 0 else "capped",
        n_trials=n_trials,
        workers=workers,
        confirm_top_k=top_k,
        confirm_seeds=seeds,
        hard_negatives=sizes.corpus > 0 and n_trials >= 24,
        trial_seconds=trials.seconds,
        phases=tuple(Phase(name, seconds) for name, seconds in phases.items()),
        test_texts=sizes.test_texts,
        notes=tuple(notes),
    )


def _shape_trials(models: list[ModelProbe], sizes: DataSizes, search: float, batches: tuple[int, ...]) -> _Trials:
    """Trials that leave ``TARGET_TRIALS`` of them in ``search`` seconds, never more than the data."""
    speed = sum(p.speed(batches) for p in models) / len(models)  # trials spread over the candidates
    encode = sum(p.encode_texts_per_second for p in models) / len(models)
    cap = _corpus_cap(sizes, encode, search / TARGET_TRIALS)
    eval_seconds = _capped_texts(sizes, cap) / encode
    per_trial = max(search / TARGET_TRIALS - (EVALS_PER_TRIAL + 1) * eval_seconds, 0.0)
    epochs = (1, 2) if per_trial * speed >= 2 * sizes.train else (1, 1)
    mean_epochs = sum(epochs) / 2
    samples = int(min(sizes.train, max(4 * max(batches), per_trial * speed / mean_epochs)))
    every = max(max(batches), samples // EVALS_PER_TRIAL)
    seconds = samples * mean_epochs / speed + (samples * mean_epochs // every + 1) * eval_seconds
    final_full = sizes.corpus > 0 and (cap is None or sizes.dev_texts / encode < 0.3 * seconds)
    if final_full and cap is not None:
        seconds += (sizes.dev_texts - _capped_texts(sizes, cap)) / encode
    return _Trials(samples, epochs, every, cap, final_full, seconds)


def _fit_fixed_costs(models: list[ModelProbe], sizes: DataSizes, budget: Budget) -> tuple[DataSizes, list[str]]:
    """Sizes whose zero-shot and final test costs leave the search at least half the budget: a
    seeded subset of the test (and of dev) pairs when the full ones would not; and a note."""
    encode = min(p.encode_texts_per_second for p in models)
    fixed = (len(models) + 2) * (sizes.dev_texts + sizes.test_texts) / encode
    room = 0.5 * budget.left
    if fixed <= room or sizes.test_items == 0 or sizes.corpus > 0:
        return sizes, []  # a corpus is scored whole whatever the queries: fewer would save nothing
    share = max(room / fixed, 0.05)
    test_items = max(MIN_EVAL_ITEMS, int(sizes.test_items * share))
    dev_items = max(MIN_EVAL_ITEMS, int(sizes.dev_items * share))
    shrunk = DataSizes(
        train=sizes.train,
        dev_items=min(sizes.dev_items, dev_items),
        test_items=min(sizes.test_items, test_items),
        dev_texts=int(sizes.dev_texts * min(1.0, dev_items / max(sizes.dev_items, 1))),
        test_texts=int(sizes.test_texts * min(1.0, test_items / max(sizes.test_items, 1))),
        corpus=sizes.corpus,
        relevant=sizes.relevant,
    )
    parts = [
        f"{split} on a seeded {n:,} of its {total:,} items"
        for split, n, total in (
            ("dev", shrunk.dev_items, sizes.dev_items),
            ("test", shrunk.test_items, sizes.test_items),
        )
        if n < total
    ]
    return shrunk, [f"scoring {' and '.join(parts)} to fit the budget"] if parts else []


def zero_shot_seconds(probe: ModelProbe, sizes: DataSizes) -> float:
    """Scoring one base model on dev and test, loading included."""
    return probe.load_seconds + (sizes.dev_texts + sizes.test_texts) / probe.encode_texts_per_second


def _corpus_cap(sizes: DataSizes, encode: float, trial_seconds: float) -> int | None:
    """A capped corpus when encoding the full one would take more than its share of a trial."""
    if sizes.corpus == 0:
        return None
    queries = sizes.dev_texts - sizes.corpus
    affordable = EVAL_SHARE * trial_seconds * encode / (EVALS_PER_TRIAL + 1) - queries
    if affordable >= sizes.corpus:
        return None
    floor = max(sizes.relevant + 100, 200)
    return int(min(sizes.corpus, max(floor, round(affordable, -2))))


def _capped_texts(sizes: DataSizes, cap: int | None) -> int:
    if cap is None:
        return sizes.dev_texts
    return sizes.dev_texts - sizes.corpus + cap


def _final_seconds(probe: ModelProbe, sizes: DataSizes, trial: float) -> float:
    """The winner and the default recipe retrained (a trial each) and tested on the full test split."""
    test = sizes.test_texts / probe.encode_texts_per_second
    return 2 * (trial + test) + probe.load_seconds


def _confirmation(trial: float, n_trials: int, workers: int) -> tuple[int, int]:
    """Top configs and seeds to confirm: at most a quarter of the search's time, and only when the
    search keeps at least ``3 * MIN_TRIALS`` trials."""
    search = n_trials * trial / workers
    for top_k, seeds in ((3, 3), (2, 3), (2, 2)):
        cost = top_k * seeds * trial / workers
        left = (search - cost) * workers / trial
        if left >= 3 * MIN_TRIALS and cost <= 0.25 * search:
            return top_k, seeds
    return 0, 0


def parse_budget(text: str) -> tuple[float | None, float | None]:
    """``90m``, ``2h``, ``1h30m``, ``45s`` -> (seconds, None); ``$20`` -> (None, dollars)."""
    value = text.strip().lower()
    if value.startswith("$"):
        dollars = _number(value[1:], text)
        return None, dollars
    seconds = 0.0
    number = ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    for char in value:
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            seconds += _number(number, text) * units[char]
            number = ""
        else:
            raise ValueError(f"--budget {text}: give wall time (90m, 2h, 1h30m) or money ($20)")
    if number:
        raise ValueError(f"--budget {text}: give a unit (90m, 2h, 45s)")
    if seconds <= 0:
        raise ValueError(f"--budget {text}: give a positive amount")
    return seconds, None


def _number(text: str, original: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--budget {original}: '{text}' is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"--budget {original}: give a positive amount")
    return value


def describe_plan(plan: Plan) -> list[str]:
    """The plan as printed: the choices, then each phase's predicted time."""
    lines = [
        f"plan: {plan.n_trials} trials of {', '.join(plan.models)} (default recipe first), "
        f"batch {'/'.join(map(str, plan.batch_sizes))}, epochs {plan.epochs[0]}-{plan.epochs[1]}, "
        f"about {plan.trial_seconds:.0f} s a trial on {plan.workers} worker(s)",
        f"      evaluation every {plan.every_samples} samples"
        + (f" on a {plan.corpus_cap:,}-passage capped corpus" if plan.corpus_cap else "")
        + f"; trial value on the {plan.final_corpus} dev set"
        + (f"; confirm top {plan.confirm_top_k} with {plan.confirm_seeds} seeds" if plan.confirm_top_k else ""),
    ]
    lines += [f"      note: {note}" for note in plan.notes]
    phases = ", ".join(f"{name} {seconds / 60:.1f} min" for name, seconds in plan.predicted().items())
    return [*lines, f"      predicted: {phases}"]
