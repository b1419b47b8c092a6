"""What ``hpo train`` prints once the final model is retrained: the score table, the search trial
against the retrained model, the spread over seeds, the verdicts, and where the model went."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpo.results.evaluation import FinalReport
    from hpo.results.final import BestRecipe


def final_summary_lines(recipe: BestRecipe, report: FinalReport, output: Path, push_to_hub: str | None) -> list[str]:
    """The result lines of one ``hpo train`` run, table first."""
    from hpo.results.dimensions import rows_by_dimension
    from hpo.results.evaluation import format_table

    metric = recipe.config.metric_name
    lines = [format_table(recipe.config.objective, rows_by_dimension(report.rows()))]
    if report.trial_value is not None:
        retrained = f"retrained: {report.dev.value:.4f} ({_corpora(recipe, report)})"
        lines.append(f"search trial dev {metric}: {report.trial_value:.4f}; {retrained}")
    for split in ("dev", "test"):
        summary = report.seed_summary(split)
        if summary is not None:
            lines.append(f"{split} {metric} over {summary[2]} seeds: {summary[0]:.4f} ± {summary[1]:.4f}")
    lines.extend(f"verdict: {verdict.describe()}" for verdict in report.verdicts)
    lines.append(f"saved {output}" + (f" and pushed to {push_to_hub}" if push_to_hub else ""))
    return lines


def _corpora(recipe: BestRecipe, report: FinalReport) -> str:
    """Which corpus the search trial and the retrained model were scored on."""
    searched = recipe.document.metric.eval_corpus if recipe.document.metric else None
    if searched in (None, report.dev.corpus):
        return f"both on {report.dev.corpus}"
    return f"trial on {searched}, retrained on {report.dev.corpus}"
