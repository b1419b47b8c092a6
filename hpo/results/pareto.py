"""The quality-vs-cost fronts of a study, computed from what each trial recorded.

Optuna cannot prune a multi-objective study, so the search optimises the dev metric alone; cost is
recorded, not optimised. A front holds the complete search trials that no other trial beats on
both the dev metric and one cost axis (at least as good on both, better on one):

- ``cost``: the trial's dollars when every trial has a price, else its device seconds;
- ``latency``: milliseconds per text the trained model took to encode, on the trial's device, in
  its evaluations (1000 / ``encode_texts_per_second``). Measured while other work shares the
  device (other workers, other users of a CPU), it moves by a few percent from one evaluation to
  the next, so latencies within :data:`LATENCY_TOLERANCE` of each other count as equal: a trial
  0.2% faster but worse does not join the front. Latencies measured on different devices are not
  comparable at all, and the listing says so;
- ``dimension``: the embedding dimension, when the trials differ in it (Matryoshka runs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpo import attrs
from hpo.progress import describe_params
from hpo.store.trial_kinds import ranked_complete

if TYPE_CHECKING:
    import optuna

LATENCY_TOLERANCE = 0.05  # relative: 54.20 and 54.29 ms per text are the same speed


@dataclass(frozen=True)
class Point:
    """One complete search trial: its dev value and what it cost."""

    trial: int
    value: float
    cost_usd: float | None
    device_seconds: float | None
    ms_per_text: float | None
    dimension: int | None
    params: dict[str, Any]
    device_type: str | None = None  # where it was measured: a GPU's name or "cpu"


@dataclass(frozen=True)
class Axis:
    """A cost axis: its name, its label on a plot, and each point's value on it (lower is better)."""

    name: str
    label: str
    of: Callable[[Point], float | None]
    tolerance: float = 0.0  # relative difference within which two values count as equal


def trial_points(trials: Iterable[optuna.trial.FrozenTrial], direction: str) -> list[Point]:
    """The complete search trials, best first."""
    points = []
    for trial in ranked_complete(trials, direction):
        record = trial.user_attrs
        speed = record.get(attrs.ENCODE_PER_SECOND)
        points.append(
            Point(
                trial=trial.number,
                value=float(trial.value or 0.0),
                cost_usd=_number(record.get(attrs.COST_USD)),
                device_seconds=_number(record.get(attrs.DEVICE_SECONDS)),
                ms_per_text=1000.0 / float(speed) if speed else None,
                dimension=record.get(attrs.EMBEDDING_DIM),
                params=dict(trial.params),
                device_type=record.get(attrs.DEVICE_TYPE),
            )
        )
    return points


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def cost_axes(points: list[Point]) -> list[Axis]:
    """The axes these points can be drawn on: cost, latency, and dimension when it varies."""
    found = []
    if points and all(p.cost_usd is not None for p in points):
        found.append(Axis("cost", "dollars per trial", lambda p: p.cost_usd))
    elif any(p.device_seconds is not None for p in points):
        found.append(Axis("cost", "device seconds per trial", lambda p: p.device_seconds))
    if any(p.ms_per_text is not None for p in points):
        found.append(Axis("latency", "encoding ms per text", lambda p: p.ms_per_text, LATENCY_TOLERANCE))
    if len({p.dimension for p in points if p.dimension is not None}) > 1:
        found.append(Axis("dimension", "embedding dimension", lambda p: p.dimension))
    return found


def front(points: list[Point], axis: Axis, maximize: bool) -> list[Point]:
    """The points no other point beats on both the value and ``axis``, cheapest first.

    A point beats another when it is at least as good on both (on ``axis``, within its tolerance)
    and better on one.
    """
    sign = 1.0 if maximize else -1.0
    placed = [(p, float(cost)) for p in points if (cost := axis.of(p)) is not None]

    def beats(a: tuple[Point, float], b: tuple[Point, float]) -> bool:
        (p, cost), (q, other) = a, b
        as_good = sign * p.value >= sign * q.value and cost <= other * (1 + axis.tolerance)
        return as_good and (sign * p.value > sign * q.value or cost < other)

    # Best value first, each judged against the points kept so far: with a tolerance "beats" is
    # not transitive, and a point beaten only by a dropped one still belongs to the front.
    kept: list[tuple[Point, float]] = []
    for candidate in sorted(placed, key=lambda pc: (-sign * pc[0].value, pc[1], pc[0].trial)):
        if not any(beats(a, candidate) for a in kept):
            kept.append(candidate)
    return [p for p, _ in sorted(kept, key=lambda pc: (pc[1], -sign * pc[0].value, pc[0].trial))]


def best_within(
    points: list[Point], maximize: bool, max_cost: float | None = None, max_latency: float | None = None
) -> Point | None:
    """The best point whose dollars and ms per text are within the limits (None: no such point)."""
    sign = 1.0 if maximize else -1.0
    fitting = [
        p
        for p in points
        if (max_cost is None or (p.cost_usd is not None and p.cost_usd <= max_cost))
        and (max_latency is None or (p.ms_per_text is not None and p.ms_per_text <= max_latency))
    ]
    return max(fitting, key=lambda p: (sign * p.value, -p.trial)) if fitting else None


def format_fronts(points: list[Point], metric: str, maximize: bool) -> str:
    """The text of ``hpo best --pareto``: each front as a table, cheapest first."""
    axes = cost_axes(points)
    if not axes:
        return "no trial has recorded its cost or encoding speed yet"
    blocks = []
    for axis in axes:
        kept = front(points, axis, maximize)
        header = ["trial", metric, "dollars", "device s", "ms/text", "dim", "params"]
        body = [
            [
                str(p.trial),
                f"{p.value:.4f}",
                "-" if p.cost_usd is None else f"{p.cost_usd:.4f}",
                "-" if p.device_seconds is None else f"{p.device_seconds:.0f}",
                "-" if p.ms_per_text is None else f"{p.ms_per_text:.2f}",
                "-" if p.dimension is None else str(p.dimension),
                describe_params(p.params),
            ]
            for p in kept
        ]
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
        tolerance = f"; within {axis.tolerance:.0%} counts as equal" if axis.tolerance else ""
        title = f"front of {metric} against {axis.label} ({len(kept)} of {len(points)} trials{tolerance}):"
        rows = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *body]
        ]
        blocks.append("\n".join([title, *rows, *_not_comparable(points, axis)]))
    return "\n\n".join(blocks)


def _not_comparable(points: list[Point], axis: Axis) -> list[str]:
    """A note when the latencies were measured on different devices."""
    devices = sorted({p.device_type for p in points if p.device_type and axis.of(p) is not None})
    if axis.name != "latency" or len(devices) < 2:
        return []
    return [f"note: ms per text measured on {', '.join(devices)}: not comparable across devices"]
