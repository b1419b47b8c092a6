"""``hpo tune`` on the shared sets at several budgets: test metric, verdicts against zero-shot and
against the default recipe, predicted against actual phase times; and, beside a 15-minute tune,
the same wall time spent by a plain study with the random sampler over the reference config's space.

    python -m benchmarks.tune_budget                               # every set at 5, 15 and 30 min
    python -m benchmarks.tune_budget --sets sick --budgets 15      # one run
    python -m benchmarks.tune_budget --sets sick --budgets 15 --random-baseline

Each run is ``hpo tune ../shared/data/NAME --budget Nm -o WORK/NAME-Nm`` in its own process (the
offline all-MiniLM-L6-v2 is the only candidate that loads without the Hub). The random baseline
creates the reference config of the set (``benchmarks/*-minilm.yaml`` or ``search_spaces/``) with
``sampler: random``, runs one worker with ``--timeout`` of the same budget less the final retrain,
then ``hpo best`` and ``hpo train``, and reports its test metric the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SETS = {"bioasq": "bioasq", "quora": "quora_duplicates", "sick": "sick"}
REFERENCE = {"bioasq": "benchmarks/bioasq-minilm.yaml", "sick": "benchmarks/sick-minilm.yaml"}  # offline data
VERDICT = re.compile(
    r"^tuned vs (?P<ref>.+?), (?P<split>dev|test) (?P<metric>\S+) on .*: (?P<diff>[+-]\d\.\d+) "
    r".* (?P<verdict>WIN|MARGINAL|TIE|REGRESSION)"
)


def run_tune(name: str, minutes: int, work: Path) -> dict[str, Any]:
    out = work / f"{name}-{minutes}m"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HPO_CACHE": str(work / "cache")}
    env.pop("HPO_STORAGE", None)
    command = [sys.executable, "-m", "hpo", "tune", str(DATA / SETS[name]), "--budget", f"{minutes}m", "-o", str(out)]
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode != 0:
        return {"set": name, "minutes": minutes, "wall": wall, "error": done.stderr.strip().splitlines()[-1:]}
    plan = json.loads((out / "plan.json").read_text())
    final = json.loads((out / "model" / "hpo_final.json").read_text())
    verdicts = [m.groupdict() for line in done.stdout.splitlines() if (m := VERDICT.match(line))]
    return {
        "set": name,
        "minutes": minutes,
        "wall": wall,
        "test": final["test"]["value"] if final.get("test") else None,
        "metric": final["dev"].get("metric_key"),
        "verdicts": verdicts,
        "predicted": plan["predicted_seconds"],
        "actual": plan["actual_seconds"],
        "trials": plan["plan"]["n_trials"],
        "stdout": done.stdout,
    }


def print_run(run: dict[str, Any]) -> None:
    print(f"\n== {run['set']} at {run['minutes']} min: wall {run['wall'] / 60:.1f} min ==")
    if "error" in run:
        print("error:", run["error"])
        return
    print(f"test {run['metric']}: {run['test']:.4f}; {run['trials']} trials planned")
    for v in run["verdicts"]:
        print(f"  vs {v['ref']:<45} {v['split']:<4} {v['diff']:>8} {v['verdict']}")
    print("  phase       predicted   actual")
    for phase, predicted in run["predicted"].items():
        actual = run["actual"].get(phase)
        shown = f"{actual / 60:6.1f} min" if actual is not None else "     -"
        print(f"  {phase:<10} {predicted / 60:6.1f} min {shown}")


def run_random(name: str, minutes: int, work: Path, config: Path) -> dict[str, Any]:
    """A plain study: the reference config's space with the random sampler, for the same wall time."""
    import yaml

    raw = yaml.safe_load(config.read_text())
    raw["sampler"] = {"type": "random"}
    raw["study_name"] = f"random-{name}"
    raw["budget"] = {"n_trials": 200}
    for split in ("train", "dev", "test", "corpus"):
        if isinstance(raw["data"].get(split), dict) and "path" in raw["data"][split]:
            raw["data"][split]["path"] = str((config.parent / raw["data"][split]["path"]).resolve())
    folder = work / f"random-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.yaml").write_text(yaml.safe_dump(raw))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HPO_STORAGE": f"sqlite:///{folder}/study.db"}
    started = time.monotonic()

    def hpo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hpo", *args], env=env, capture_output=True, text=True)

    hpo("create-study", "--config", str(folder / "study.yaml"), "--load-if-exists")
    hpo("worker", "--study", raw["study_name"], "--timeout", str(minutes * 60 * 0.7))
    hpo("best", "--study", raw["study_name"], "-o", str(folder / "best.yaml"), "--force")
    trained = hpo("train", str(folder / "best.yaml"), "-o", str(folder / "model"))
    final = json.loads((folder / "model" / "hpo_final.json").read_text()) if trained.returncode == 0 else {}
    return {"wall": time.monotonic() - started, "test": (final.get("test") or {}).get("value")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--budgets", nargs="+", type=int, default=[5, 15, 30], metavar="MINUTES")
    parser.add_argument("--random-baseline", action="store_true", help="Also the random-sampler study at 15 min.")
    parser.add_argument("--work", type=Path, default=None, help="Keep the outputs here.")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="tune-budget-"))
    for name in args.sets:
        for minutes in args.budgets:
            print_run(run_tune(name, minutes, work))
        if args.random_baseline:
            if name not in REFERENCE:
                print(f"random sampler: no offline reference config for {name}")
                continue
            random = run_random(name, 15, work, ROOT / REFERENCE[name])
            print(f"random sampler, same wall time: test {random['test']}, wall {random['wall'] / 60:.1f} min")
    print(f"\noutputs in {work}")


if __name__ == "__main__":
    main()
