"""Does hpo use the whole GPU? One offline run on one GPU, at most about 8 minutes, side by side.

    python3 benchmarks/gpu_profile.py [--output gpu-profile.json] [--workdir gpu-profile]
    python3 -m benchmarks.gpu_profile --smoke          # CPU, tiny model, under 2 minutes (CI runs it)

Workload: all-MiniLM-L6-v2 on every (question, relevant passage) pair of ../shared/data/bioasq's
train split (14,986 pairs), ``max_seq_length`` 256, batch 128, dev scored on the capped corpus
during training and on the whole 18,687-passage corpus at the end, in the precision hpo picks.
With ``--smoke``: a tiny BERT built on the fly and a small subset, on whatever device there is.

Sections (each in the JSON and the table; a section that no longer fits ``--budget`` is skipped
and says so):

1. ``bare``: SentenceTransformerTrainer on the same pairs, batches (NO_DUPLICATES, seed 42) and
   precision, with 0 and with ``--loader-workers`` data-loader processes; its best samples/s
   against a steady hpo trial's training samples/s (``train_trial``, the second of two in one
   process), and their ratio (target: at least 1.0).
2. ``warm_up``: two ``hpo worker`` processes in turn on a fresh disk cache, each running three
   (smoke: two) trials with the same fixed parameters: each worker's first trial against its later ones
   (target: at most 1.1 for the first worker, and the second worker starts warm).
3. ``per_gpu``: the same short study (``--study-trials`` trials, default 6; learning rate and
   batch size searched, one epoch) at ``--per-gpu`` 1, 4 and 2 (smoke: ``--workers`` 1 and 2): trials/hour, GPU
   busy share, trials failed or re-queued for memory (targets: 4 against 1 at least 2x, busy at
   least 80%, none failed).
4. Peak memory: CUDA allocations of the bare run and of an hpo trial, and the most memory NVML saw
   used on the GPU in each section.

GPU busy share is NVML's utilization sampled once a second (``nvidia-ml-py``, else ``nvidia-smi``).
Results: JSON to ``--output`` and a table on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script (python3 benchmarks/gpu_profile.py): import the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from benchmarks.bioasq_bench import MODEL, SOURCE, Workload, write_subset

STUDY = "gpu-profile"


@dataclass(frozen=True)
class Sizes:
    """What one profile run trains: the full GPU workload or the CPU smoke one."""

    batch_size: int
    max_seq_length: int
    every_samples: int
    corpus_cap: int
    study_trials: int
    loader_workers: int
    per_gpu: tuple[int, ...] = (1, 2, 4)


# --per-gpu 4 runs before 2: if the budget runs short, the level the target compares with 1 is kept.
FULL = Sizes(128, 256, every_samples=6144, corpus_cap=3000, study_trials=6, loader_workers=4, per_gpu=(1, 4, 2))
# The smoke run exercises every section in as few processes as it can: 2 trials a worker, 1 and 2 workers.
SMOKE = Sizes(16, 64, every_samples=32, corpus_cap=60, study_trials=4, loader_workers=2, per_gpu=(1, 2))


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send stdout, Python's and file descriptor 1 alike, to stderr while the block runs."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def log(message: str) -> None:
    print(f"[gpu_profile {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Deadline:
    """The run's time budget: sections start only while enough of it is left."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def data_section(folder: Path, smoke: bool) -> dict[str, Any]:
    """The config's ``data`` section: the whole BioASQ set, or a small subset written into ``folder``."""
    if smoke:
        subset = write_subset(folder / "data", Workload(train=48, dev=8, test=8, corpus=200, corpus_cap=60))
        source, columns = subset, {"query": "query", "relevant_ids": "relevant_ids", "query_id": "id"}
    else:
        source, columns = SOURCE, {"query": "query", "relevant_ids": "relevant_ids", "query_id": "id"}
    return {
        "train": {"path": str(source / "train.jsonl")},
        "dev": {"path": str(source / "dev.jsonl")},
        "test": {"path": str(source / "test.jsonl")},
        "corpus": {"path": str(source / "corpus.jsonl"), "id_column": "id", "text_column": "text"},
        "columns": columns,
    }


def study_config(model: str, data: dict[str, Any], sizes: Sizes, n_trials: int, searched: bool) -> dict[str, Any]:
    """A study on the workload: fixed parameters (every trial the same work), or lr and batch searched."""
    space: dict[str, Any] = {
        "model": model,
        "loss": {"MultipleNegativesRankingLoss": {}},
        "learning_rate": 5.0e-5,
        "batch_size": sizes.batch_size,
        "warmup_ratio": 0.1,
        "epochs": 1,
        "max_seq_length": sizes.max_seq_length,
    }
    if searched:
        space["learning_rate"] = {"type": "float", "low": 1.0e-5, "high": 3.0e-4, "log": True}
        space["batch_size"] = {"type": "categorical", "choices": [sizes.batch_size // 2, sizes.batch_size]}
    return {
        "study_name": STUDY,
        "objective": "retrieval",
        "seed": 42,
        "data": data,
        "metric": "ndcg@10",
        "search_space": space,
        "evaluation": {"every_samples": sizes.every_samples, "corpus_cap": sizes.corpus_cap, "final_corpus": "full"},
        "sampler": {"type": "tpe", "n_startup_trials": 4},
        "pruner": {"type": "none"},
        "budget": {"n_trials": n_trials},
    }


class Monitor:
    """GPU utilization and memory sampled around a section (nothing on a CPU)."""

    def __init__(self, gpu: bool) -> None:
        from hpo.workers.gpu_monitor import GpuMonitor

        self.monitor = GpuMonitor([0] if gpu else [])

    def __enter__(self) -> Monitor:
        self.monitor.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.monitor.__exit__(None, None, None)

    def figures(self) -> dict[str, Any]:
        usage = self.monitor.usage[0] if self.monitor.usage else None
        peak = usage.peak_memory_bytes if usage else None
        return {
            "seconds": round(self.monitor.seconds, 1),
            "gpu_busy_share": round(usage.busy_share, 3) if usage and usage.busy_share is not None else None,
            "gpu_memory_used_peak_gib": round(peak / 2**30, 2) if peak else None,
            "busy_source": self.monitor.source,
        }


def release_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def bare_run(model_path: str, pairs: Any, sizes: Sizes, workers: int, device: str, precision: str) -> dict[str, Any]:
    """One epoch of the bare trainer: samples/s over ``trainer.train()``, and its peak CUDA allocations."""
    import torch
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers import SentenceTransformerTrainingArguments as Arguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import PrinterCallback

    model = SentenceTransformer(model_path, device=device)
    model.max_seq_length = sizes.max_seq_length
    with tempfile.TemporaryDirectory() as output:
        args = Arguments(
            output_dir=output,
            per_device_train_batch_size=sizes.batch_size,
            learning_rate=5.0e-5,
            warmup_steps=0.1,
            num_train_epochs=1,
            batch_sampler="no_duplicates",
            dataloader_num_workers=workers,
            seed=42,
            data_seed=42,
            report_to="none",
            save_strategy="no",
            disable_tqdm=True,
            use_cpu=device == "cpu",
            bf16=precision == "bf16",
            fp16=precision == "fp16",
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=pairs, loss=MultipleNegativesRankingLoss(model)
        )
        trainer.remove_callback(PrinterCallback)  # its metrics line would land in the table on stdout
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        trainer.train()
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
    samples = trainer.state.global_step * sizes.batch_size
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    del trainer, model
    release_memory()
    return {"samples_per_second": samples / seconds, "seconds": seconds, "peak_allocated_gib": peak}


def bare_versus_hpo(folder: Path, model: str, sizes: Sizes, gpu: bool, smoke: bool) -> dict[str, Any]:
    """Section 1: the bare trainer's loader settings against a steady hpo trial, same batches."""
    from hpo.store.config_file import parse_config
    from hpo.training.disk_cache import DiskCache
    from hpo.training.models import best_device, resolve_model_path
    from hpo.training.precision import best_precision
    from hpo.training.result import NullReporter
    from hpo.training.run import train_trial
    from hpo.training.run_cache import RunCache
    from objectives.registry import get_task

    config = parse_config(study_config(model, data_section(folder, smoke), sizes, 1, False), source="gpu_profile")
    task = get_task("retrieval")
    data = task.load_data(config)
    pairs = task.train_dataset(data)
    device = best_device()
    precision = best_precision(device, config.precision)
    path = resolve_model_path(model)
    result: dict[str, Any] = {"pairs": len(pairs), "device": device, "precision": precision, "bare": {}}
    log(f"bare trainer: {len(pairs)} pairs on {device} ({precision})")
    if gpu:  # CUDA's one-time start-up is nobody's data path
        bare_run(path, pairs.select(range(min(len(pairs), 8 * sizes.batch_size))), sizes, 0, device, precision)
    for workers in (0, sizes.loader_workers):
        with Monitor(gpu) as monitor:
            run = bare_run(path, pairs, sizes, workers, device, precision)
        result["bare"][f"dataloader_num_workers={workers}"] = {**run, **monitor.figures()}
        log(f"bare, {workers} loader workers: {run['samples_per_second']:.0f} samples/s")
    cache = RunCache(task, data, config, DiskCache(folder / "cache-section-1"))
    params = config.search_space.resolve({})
    runs = []
    for label in ("first", "steady"):
        with Monitor(gpu) as monitor:
            trial = train_trial(task, params, data, config, NullReporter(), cache=cache)
        runs.append({"label": label, "train_samples_per_second": trial.train_samples_per_second, **monitor.figures()})
        runs[-1].update(peak_memory_mb=trial.peak_memory_mb, memory_kind=trial.memory_kind, seconds=trial.seconds)
        log(f"hpo trial ({label}): {trial.train_samples_per_second:.0f} training samples/s")
    del cache  # the base model's GPU copy and cached blocks: the next sections' workers need the memory
    release_memory()
    best_name, best = max(result["bare"].items(), key=lambda item: item[1]["samples_per_second"])
    steady = runs[-1]["train_samples_per_second"]
    result.update(
        hpo=runs,
        bare_best_setting=best_name,
        bare_best_samples_per_second=best["samples_per_second"],
        hpo_steady_samples_per_second=steady,
        hpo_over_bare_best=steady / best["samples_per_second"],
    )
    return result


def create_study(config: Path, storage: str) -> None:
    """``hpo create-study``, in this process (it has its libraries loaded already)."""
    from hpo.results.new_study import create_study_from_file
    from hpo.store.storage import StorageUrl

    create_study_from_file(str(config), StorageUrl.parse(storage))


def hpo_command(*args: str, storage: str, env: dict[str, str], capture: bool = False) -> str:
    command = [sys.executable, "-m", "hpo", "--log-level", "WARNING", *args]
    done = subprocess.run(
        command, env={**env, "HPO_STORAGE": storage}, check=True, text=True, stdout=subprocess.PIPE if capture else None
    )
    return done.stdout or ""


def trials_of(storage: str) -> list[Any]:
    import optuna

    return sorted(optuna.load_study(study_name=STUDY, storage=storage).trials, key=lambda t: t.number)


def warm_up(folder: Path, model: str, sizes: Sizes, gpu: bool, smoke: bool, env: dict[str, str]) -> dict[str, Any]:
    """Section 2: two worker processes in turn on a fresh disk cache; first trial against later ones."""
    per_worker = 2 if smoke else 3
    config = folder / "warm-up.yaml"
    raw = study_config(model, data_section(folder, smoke), sizes, 2 * per_worker, searched=False)
    config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    storage = f"sqlite:///{folder / 'warm-up.db'}"
    cache_env = {**env, "HPO_CACHE": str(folder / "cache-section-2")}
    create_study(config, storage)
    result: dict[str, Any] = {}
    for n, name in enumerate(("first_worker", "second_worker")):
        log(f"warm-up: {name} runs {per_worker} trials")
        with Monitor(gpu) as monitor:
            started = time.perf_counter()
            hpo_command(
                "worker", "--study", STUDY, "--n-trials", str(per_worker), storage=storage, env=cache_env, capture=True
            )
            process = time.perf_counter() - started
        mine = trials_of(storage)[n * per_worker : (n + 1) * per_worker]
        walls = [float(t.user_attrs.get("wall_seconds", 0.0)) for t in mine]
        later = sum(walls[1:]) / len(walls[1:])
        result[name] = {
            "trial_wall_seconds": walls,
            "first_over_steady": walls[0] / later if later else None,
            "train_samples_per_second": [t.user_attrs.get("train_samples_per_second") for t in mine],
            "phases": [t.user_attrs.get("seconds", {}) for t in mine],
            "process_seconds": process,
            **monitor.figures(),
        }
    return result


def per_gpu(
    folder: Path, model: str, sizes: Sizes, gpu: bool, smoke: bool, env: dict[str, str], deadline: Deadline
) -> Any:
    """Section 3: the same short study at --per-gpu 1, 2, 4 (--workers on a CPU)."""
    results: dict[str, Any] = {}
    cache_env = {**env, "HPO_CACHE": str(folder / "cache-section-3")}
    for n in sizes.per_gpu:
        if deadline.left() < 60:
            results[f"per_gpu={n}"] = {"skipped": f"{deadline.left():.0f} s of the budget left"}
            continue
        config = folder / f"per-gpu-{n}.yaml"
        raw = study_config(model, data_section(folder, smoke), sizes, sizes.study_trials, searched=True)
        config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        storage = f"sqlite:///{folder / f'per-gpu-{n}.db'}"
        create_study(config, storage)
        workers = ["--gpus", "0", "--per-gpu", str(n)] if gpu else ["--workers", str(n)]
        log(f"study of {sizes.study_trials} trials with {' '.join(workers)}")
        with Monitor(gpu) as monitor:
            started = time.perf_counter()
            out = hpo_command("worker", "--study", STUDY, *workers, storage=storage, env=cache_env, capture=True)
            wall = time.perf_counter() - started
        trials = trials_of(storage)
        states = [t.state.name for t in trials]
        ended = states.count("COMPLETE") + states.count("PRUNED")
        results[f"per_gpu={n}"] = {
            "workers": n,
            "wall_seconds": wall,
            "trials_ended": ended,
            "trials_per_hour": ended * 3600 / wall,
            "failed": sum(1 for t in trials if t.state.name == "FAIL" and "neighbour_oom_mb" not in t.user_attrs),
            "requeued_for_memory": sum(1 for t in trials if "neighbour_oom_mb" in t.user_attrs),
            "peak_memory_mb_per_trial": max((t.user_attrs.get("peak_memory_mb", 0) for t in trials), default=0),
            "supervisor_report": [line for line in out.splitlines() if re.match(r"^(\d+ trials ended|GPU )", line)],
            **monitor.figures(),
        }
    one = results.get("per_gpu=1", {}).get("trials_per_hour")
    for value in results.values():
        if one and "trials_per_hour" in value:
            value["trials_per_hour_over_per_gpu_1"] = value["trials_per_hour"] / one
    return results


def table(report: dict[str, Any]) -> list[str]:
    """The report as rows of (figure, value)."""
    rows: list[tuple[str, str]] = []

    def add(label: str, value: Any, form: str = "{:.2f}") -> None:
        rows.append((label, "-" if value is None else form.format(value) if not isinstance(value, str) else value))

    section = report.get("bare_vs_hpo", {})
    if "skipped" in section:
        add("bare vs hpo", section["skipped"])
    for name, run in section.get("bare", {}).items():
        add(f"bare trainer, {name}: samples/s", run["samples_per_second"], "{:,.0f}")
        add(f"bare trainer, {name}: GPU busy", run["gpu_busy_share"], "{:.0%}")
    for run in section.get("hpo", []):
        add(f"hpo trial ({run['label']}): training samples/s", run["train_samples_per_second"], "{:,.0f}")
    add("hpo steady / bare best (target >= 1.0)", section.get("hpo_over_bare_best"))
    warm = report.get("warm_up", {})
    if "skipped" in warm:
        add("warm-up", warm["skipped"])
    for name in ("first_worker", "second_worker"):
        if name in warm:
            add(f"{name}: first trial / steady (target <= 1.1)", warm[name]["first_over_steady"])
            add(f"{name}: GPU busy", warm[name]["gpu_busy_share"], "{:.0%}")
    for name, run in report.get("per_gpu", {}).items():
        if "skipped" in run:
            add(name, run["skipped"])
            continue
        add(f"{name}: trials/hour", run["trials_per_hour"], "{:,.0f}")
        add(f"{name}: vs per_gpu=1 (target 4: >= 2)", run.get("trials_per_hour_over_per_gpu_1"))
        add(f"{name}: GPU busy (target 4: >= 80%)", run["gpu_busy_share"], "{:.0%}")
        add(f"{name}: failed / re-queued for memory", f"{run['failed']} / {run['requeued_for_memory']}")
        add(f"{name}: GPU memory used, peak (GiB)", run["gpu_memory_used_peak_gib"])
    hpo_runs = section.get("hpo", [])
    if hpo_runs:
        add(f"hpo trial peak memory (MB, {hpo_runs[-1]['memory_kind']})", hpo_runs[-1]["peak_memory_mb"], "{:,.0f}")
    width = max(len(label) for label, _ in rows) + 2
    return [f"{label:{width}}{value:>12}" for label, value in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny model, small data, any device (CI)")
    parser.add_argument("--workdir", type=Path, default=Path("gpu-profile"))
    parser.add_argument("--output", type=Path, help="the JSON report (default: WORKDIR/gpu-profile.json)")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds; later sections are skipped past it")
    parser.add_argument("--study-trials", type=int, help="trials of each --per-gpu study")
    args = parser.parse_args()
    started = time.perf_counter()
    deadline = Deadline(args.budget)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    gpu = torch.cuda.is_available()
    sizes = SMOKE if args.smoke else FULL
    if args.study_trials:
        sizes = Sizes(**{**sizes.__dict__, "study_trials": args.study_trials})
    folder = args.workdir.resolve()
    shutil.rmtree(folder, ignore_errors=True)  # a fresh disk cache: the first trials must build it
    folder.mkdir(parents=True)
    model = MODEL
    if args.smoke:
        from hpo.training.testing import build_tiny_model

        with stdout_to_stderr():  # the tokenizer trainer writes its progress to file descriptor 1
            model = str(build_tiny_model(folder / "tiny"))
    env = {**os.environ}
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if gpu else "cpu",
        "smoke": args.smoke,
        "sizes": sizes.__dict__,
        "model": model,
    }
    sections: list[tuple[str, float, Callable[[], Any]]] = [
        ("bare_vs_hpo", 90, lambda: bare_versus_hpo(folder, model, sizes, gpu, args.smoke)),
        ("warm_up", 90, lambda: warm_up(folder, model, sizes, gpu, args.smoke, env)),
        ("per_gpu", 60, lambda: per_gpu(folder, model, sizes, gpu, args.smoke, env, deadline)),
    ]
    for name, needs, run in sections:
        if deadline.left() < needs:
            report[name] = {"skipped": f"{deadline.left():.0f} s of the budget left"}
            continue
        with stdout_to_stderr():  # what libraries print is progress, not results
            report[name] = run()
    report["seconds"] = time.perf_counter() - started
    output = args.output or folder / "gpu-profile.json"
    output.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"gpu_profile on {report['device']}{' (smoke)' if args.smoke else ''}: {report['seconds']:.0f} s")
    print("\n".join(table(report)))
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
