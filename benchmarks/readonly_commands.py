"""Wall time of the read-only commands, as a user meets them: a fresh process each time.

    python -m benchmarks.readonly_commands [--runs 5] [--tree OLD_TREE ...] [--workdir DIR]

Builds a small SQLite study once (the tiny model, two search trials, a zero-shot baseline, two
confirmation runs: about a minute on 2 CPU cores), then times ``hpo --help``, ``studies``,
``status``, ``best``, ``best -o``, ``confirm --report`` and a ``create-study`` that fails on the
first row of its data. Each command runs ``--runs`` times as ``python -m hpo`` in a subprocess;
the figures are the median wall time and the median CPU time (user + system) of the process. On a
busy machine the wall time measures the queue for a core as much as the command; the CPU time
much less so. With ``--tree`` (a source tree of another version of hpo, e.g. an exported older
commit), each run alternates between that tree and this one, so a busy machine slows both alike.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parents[1]
STUDY = "tiny-retrieval"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (the median is shown)")
    parser.add_argument("--tree", action="append", default=[], help="another source tree to time beside this one")
    parser.add_argument("--workdir", type=Path, help="where the study lives (kept; default: a temporary folder)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hpo-readonly-"))
    workdir.mkdir(parents=True, exist_ok=True)
    trees = [Path(t).resolve() for t in args.tree] + [HERE]
    url = build_study(workdir, trees[0])
    commands = command_table(workdir)
    times: dict[str, dict[Path, list[tuple[float, float]]]] = {name: {tree: [] for tree in trees} for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            for tree in trees:
                times[name][tree].append(timed(tree, command, url))
    labels = [tree.name if tree != HERE else "this tree" for tree in trees]
    print(f"median of {args.runs} runs, seconds (wall / CPU); load average {os.getloadavg()[0]:.1f}; study {url}")
    print("| command | " + " | ".join(labels) + " |")
    print("|---|" + "---:|" * len(trees))
    for name in commands:
        cells = [_median(times[name][tree]) for tree in trees]
        print(f"| `hpo {name}` | " + " | ".join(cells) + " |")


def _median(runs: list[tuple[float, float]]) -> str:
    wall, cpu = (statistics.median(values) for values in zip(*runs, strict=True))
    return f"{wall:.2f} / {cpu:.2f}"


def command_table(workdir: Path) -> dict[str, list[str]]:
    """The commands timed, by the name shown."""
    bad = workdir / "bad-row.yaml"
    return {
        "--help": ["--help"],
        "studies": ["studies"],
        "status": ["status", "--study", STUDY],
        "best": ["best", "--study", STUDY],
        "best -o": ["best", "--study", STUDY, "-o", str(workdir / "best.yaml"), "--force"],
        "confirm --report": ["confirm", "--study", STUDY, "--report"],
        "create-study (bad row 1)": ["create-study", "--config", str(bad), "--name", "bad"],
    }


def timed(tree: Path, command: list[str], url: str) -> tuple[float, float]:
    """Wall and CPU seconds of one ``python -m hpo``, from start to exit, with ``tree`` first on the import path."""
    env = {**os.environ, "PYTHONPATH": str(tree), "HPO_STORAGE": url, "HF_HUB_OFFLINE": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hpo", *command], env=env, capture_output=True, cwd=tree, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def build_study(workdir: Path, tree: Path = HERE) -> str:
    """A SQLite study with search trials, a baseline and confirmation runs, built by the hpo of
    ``tree``; reused when it exists."""
    database = workdir / "study.db"
    url = f"sqlite:///{database}"
    _write_bad_config(workdir)
    if database.exists():
        return url
    from hpo.training.testing import build_tiny_model, tiny_study_config

    model = build_tiny_model(workdir / "model")
    raw = tiny_study_config(str(model), budget={"n_trials": 2})
    config = workdir / "study.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    for command in (
        ["create-study", "--config", str(config)],
        ["worker", "--study", STUDY],
        ["baseline", "--study", STUDY],
        ["confirm", "--study", STUDY, "--top-k", "1", "--seeds", "2"],
        ["worker", "--study", STUDY],
    ):
        env = {**os.environ, "PYTHONPATH": str(tree), "HPO_STORAGE": url, "HF_HUB_OFFLINE": "1"}
        env["TOKENIZERS_PARALLELISM"] = "false"
        done = subprocess.run(
            [sys.executable, "-m", "hpo", *command], env=env, capture_output=True, text=True, cwd=tree, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"hpo {' '.join(command)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return url


def _write_bad_config(workdir: Path) -> None:
    """A pair-classification config whose data fails on its first row (a label that is not 0/1)."""
    data = workdir / "bad.jsonl"
    rows = [{"text1": "a cat", "text2": "a dog", "label": 7}, {"text1": "one", "text2": "two", "label": 1}]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    raw = {
        "study_name": "bad",
        "objective": "pair-classification",
        "data": {"train": {"path": str(data)}},
        "search_space": {
            "model": "sentence-transformers/all-MiniLM-L6-v2",
            "loss": "OnlineContrastiveLoss",
            "learning_rate": 2.0e-5,
            "batch_size": 16,
            "epochs": 1,
        },
        "evaluation": {"every_samples": 32},
        "budget": {"n_trials": 1},
    }
    (workdir / "bad-row.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


if __name__ == "__main__":
    main()
