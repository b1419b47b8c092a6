"""The hpo section of a final model's card: data, hyperparameters, search provenance, test metrics."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.evaluation import TABLE_METRICS

if TYPE_CHECKING:
    from hpo.config import StudyConfig
    from hpo.final import FinalReport


def write_card_section(readme: Path, document: dict[str, Any], config: StudyConfig, report: FinalReport) -> None:
    """Append the section to the card sentence-transformers wrote (or start one)."""
    existing = readme.read_text(encoding="utf-8") if readme.exists() else ""
    readme.write_text(existing.rstrip() + "\n\n" + card_section(document, config, report), encoding="utf-8")


def card_section(document: dict[str, Any], config: StudyConfig, report: FinalReport) -> str:
    metric = document.get("metric", {})
    trial = document.get("trial", {})
    columns = TABLE_METRICS[config.objective]
    lines = [
        "## Hyperparameter search",
        "",
        f"Fine-tuned by hpo from trial {trial.get('number')} of study `{document.get('study')}` "
        f"({trial.get('complete_trials_in_study')} complete trials), the best on the dev split by "
        f"{metric.get('name')} = {_num(metric.get('value'))} ({metric.get('eval_corpus')}). "
        f"Retrained on: {', '.join(report.splits)}.",
        "",
        "| hyperparameter | value |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in document["training"].items()],
        "",
        "### Data",
        "",
        f"- objective: {config.objective}",
        *config.data.describe(),
        f"- data fingerprint: `{document.get('data_fingerprint')}`",
        "",
        "### Test metrics",
        "",
        "The test split was never seen during the search.",
        "",
        "| model | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    rows = [*report.baselines, *([report.test] if report.test else [])]
    lines += [f"| {r.model} | " + " | ".join(f"{r.metric(c):.4f}" for c in columns) + " |" for r in rows]
    versions = document.get("versions", {})
    lines += ["", "Search run with: " + ", ".join(f"{k} {v}" for k, v in versions.items()), ""]
    return "\n".join(lines)


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else str(value)
