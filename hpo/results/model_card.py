"""The hpo section of a final model's card: data, hyperparameters, search provenance, test metrics.

The card is published with ``--push-to-hub``: it names models and data by their file or folder
name or their Hub id, never by a path of the machine that trained them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hpo.markdown import markdown_text
from hpo.results.evaluation import FinalReport, table_value
from hpo.stats.significance import threshold_note

if TYPE_CHECKING:
    from hpo.results.export import ExportedBest
    from hpo.settings.config import DataConfig, DataSource, StudyConfig


def write_card_section(readme: Path, document: ExportedBest, config: StudyConfig, report: FinalReport) -> None:
    """Append the section to the card sentence-transformers wrote (or start one)."""
    existing = readme.read_text(encoding="utf-8") if readme.exists() else ""
    readme.write_text(existing.rstrip() + "\n\n" + card_section(document, config, report), encoding="utf-8")


def public_name(reference: str) -> str:
    """A model or data reference as it may be published: a Hub id as it is, a local path by its name."""
    path = Path(reference).expanduser()
    return path.name if path.is_absolute() or path.exists() or reference.startswith(".") else reference


def card_section(document: ExportedBest, config: StudyConfig, report: FinalReport) -> str:
    from objectives.registry import get_task

    task = get_task(config.objective)
    trial = document.trial
    training = {**document.training.to_dict(), "model": public_name(document.training.model)}
    mining = document.training.hard_negatives
    if mining is not None and mining.miner_model is not None:
        training["hard_negatives"] = {**training["hard_negatives"], "miner_model": public_name(mining.miner_model)}
    columns = task.metrics.table
    lines = [
        "## Hyperparameter search",
        "",
        f"Fine-tuned by hpo from trial {trial.number} of study `{document.study}` "
        f"({trial.complete_trials_in_study} complete trials), the best on the dev split by "
        f"{_metric_line(document)}. Retrained on: {', '.join(report.splits)}.",
        "",
        "| hyperparameter | value |",
        "|---|---|",
        *[f"| {k} | {markdown_text(v)} |" for k, v in training.items()],
        "",
        "### Data",
        "",
        f"- objective: {config.objective}",
        *_data_lines(config.data),
        f"- data fingerprint: `{document.data_fingerprint}`",
        "",
        "### Test metrics",
        "",
        "The test split was never seen during the search.",
        "",
        "| model | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    rows = [*report.baselines, *([report.test] if report.test else [])]
    lines += [_row(r.model, [table_value(task, r, c) for c in columns]) for r in rows]
    if report.test is not None:
        lines += ["", f"Scored on: {report.test.corpus}."]
        if report.max_test_queries is not None:
            lines[-1] += f" Test capped at {report.max_test_queries} queries (data.max_test_queries)."
        if report.test.thresholds == "dev":
            lines.append("Accuracy and F1 use the decision threshold each model chose on the dev split.")
    lines += _significance_lines(report)
    lines += _seed_lines(report, document)
    lines += ["", "Search run with: " + ", ".join(f"{k} {v}" for k, v in document.versions.items()), ""]
    return "\n".join(lines)


def _significance_lines(report: FinalReport) -> list[str]:
    if not report.verdicts:
        return []
    lines = [
        "",
        "### Significance",
        "",
        "The tuned model against each base model zero-shot, on the same test items: the difference, its "
        "95% paired-bootstrap interval, and the verdict (WIN: the interval is above 0 by at least the study's "
        "min_gain; MARGINAL: above 0 by less; TIE: it contains 0; REGRESSION: below 0).",
        "",
        "| against | metric | difference | interval | verdict |",
        "|---|---|---|---|---|",
    ]
    for row in report.verdicts:
        name = _model_name(row.reference.removesuffix(" (zero-shot)") + " (zero-shot)")
        c = row.comparison
        if c is None:
            lines.append(f"| {name} | {row.metric} | - | - | no verdict ({row.reason}) |")
        else:
            lines.append(
                f"| {name} | {row.metric} | {c.difference:+.4f} | [{c.low:+.4f}, {c.high:+.4f}] | "
                f"{c.verdict}{threshold_note(c.verdict, c.min_gain)} |"
            )
    return lines


def _seed_lines(report: FinalReport, document: ExportedBest) -> list[str]:
    lines = []
    for split in ("dev", "test"):
        summary = report.seed_summary(split)
        if summary is not None:
            mean, sd, runs = summary
            metric = document.metric.name if document.metric else "metric"
            lines.append(f"- {split} {metric} over {runs} seeds: {mean:.4f} ± {sd:.4f}")
    if not lines:
        return []
    return ["", "### Seeds", "", f"This model was trained with seed {report.seed}; retrained with other seeds:", *lines]


def _metric_line(document: ExportedBest) -> str:
    metric = document.metric
    if metric is None:
        return "its metric"
    return f"{metric.name} = {metric.value:.4f} ({metric.eval_corpus})"


def _row(model: str, values: list[float]) -> str:
    return f"| {_model_name(model)} | " + " | ".join(f"{v:.4f}" for v in values) + " |"


def _model_name(model: str) -> str:
    """A table's model column as published: ``tuned``, or a base model's public name (and "(zero-shot)")."""
    base = model.removesuffix(" (zero-shot)")
    return markdown_text(public_name(base)) + model[len(base) :]


def _data_lines(data: DataConfig) -> list[str]:
    def describe(source: DataSource | None, carved: str) -> str:
        return carved if source is None else markdown_text(public_name(source.describe()))

    lines = [
        f"- train: {describe(data.train, '')}",
        f"- dev: {describe(data.dev, f'carved from train ({data.dev_fraction:.0%})')}",
        f"- test: {describe(data.test, f'carved from train ({data.test_fraction:.0%})')}",
    ]
    return lines + ([f"- corpus: {describe(data.corpus, '')}"] if data.corpus else [])
