"""How the end-to-end study benchmarks print what they did."""

from __future__ import annotations

import optuna


def print_run(title: str, times: dict[str, float], study: optuna.Study) -> None:
    """The wall time of each command, then the study's trials by state."""
    states = [t.state.name for t in study.trials]
    print(f"\n== {title} ==")
    for command, seconds in times.items():
        print(f"wall time {command:<13} {seconds:8.1f} s")
    print("trials:", {s: states.count(s) for s in sorted(set(states))})
