"""``report.md`` of a tune: what was inferred, the plan, predicted against actual time per phase,
and the tuned model against zero-shot and the default recipe, with verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hpo.markdown import markdown_text

if TYPE_CHECKING:
    from hpo.tune.result import TuneResult


def write_report(result: TuneResult, path: Path, objective: str) -> None:
    """Write the report (atomically)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text("\n".join(report_lines(result, objective)) + "\n", encoding="utf-8")
    partial.replace(path)


def report_lines(result: TuneResult, objective: str) -> list[str]:
    from hpo.tune.final import final_table
    from hpo.tune.plan import describe_plan

    lines = [f"# hpo tune: {markdown_text(result.study or '')}", ""]
    if result.inferred:
        lines += ["## Data", "", "| | |", "|---|---|"]
        lines += [f"| {markdown_text(k)} | {markdown_text(v)} |" for k, v in result.inferred]
        lines.append("")
    lines += ["## Plan", "", *[f"    {line.strip()}" for line in describe_plan(result.plan)], ""]
    lines += ["## Time per phase", "", "| phase | predicted | actual |", "|---|---:|---:|"]
    for name, predicted, actual in result.timeline.rows():
        lines.append(f"| {name} | {_minutes(predicted)} | {_minutes(actual)} |")
    total = sum(a for _, _, a in result.timeline.rows() if a is not None)
    lines += [f"| all | {result.timeline.budget_seconds / 60:.1f} min budget | {total / 60:.1f} min |", ""]
    if result.final is not None:
        lines += ["## Results", "", "```", final_table(result.final, objective), "```", ""]
    if result.lines:
        lines += ["## Verdicts", "", *[f"- {markdown_text(line)}" for line in result.lines], ""]
    return lines


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} min"
