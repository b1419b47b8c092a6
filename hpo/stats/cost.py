"""What trials cost: the seconds each held its device, priced with the config's ``cost`` table.

``cost`` maps a device type to dollars per hour of that device, e.g. ``{A10G: 1.10, H100: 3.95}``.
A GPU is matched by a key that is its whole name or a whole word of it, ignoring case: ``A10G``
prices ``NVIDIA A10G`` and ``A100`` prices ``NVIDIA A100-SXM4-80GB``, but ``L4`` never prices an
``L40S`` nor ``A10`` an ``A100``; the longest matching key wins, so ``A100-80GB`` beats ``A100``. A
Modal container is priced by the GPU type it asked for, not the device it got (Modal may run an
``H100`` request on an H200 at H100 prices). A CPU is priced only by a ``cpu`` key: the
price of the machine's share a worker uses, per hour of the worker's wall time; without one, CPU
trials record their device seconds but no dollars. Workers sharing one GPU (``--per-gpu N``) each
pay 1/N of it. Every trial pays, whatever its end: complete, pruned or failed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpo import attrs

if TYPE_CHECKING:
    import optuna

CPU = "cpu"


def price_per_hour(prices: Mapping[str, float], device_type: str) -> float | None:
    """The price of ``device_type`` (a GPU's name or ``cpu``) in ``prices``, or None when it has none."""
    name = device_type.lower()
    if name == CPU:
        return next((price for key, price in prices.items() if key.lower() == CPU), None)
    matches = [key for key in prices if key.lower() != CPU and _names(key.lower(), name)]
    return prices[max(matches, key=len)] if matches else None


def _names(key: str, name: str) -> bool:
    """Whether ``key`` is ``name`` or a whole word of it (no letter or digit on either side)."""
    return re.search(rf"(?<![a-z0-9]){re.escape(key)}(?![a-z0-9])", name) is not None


def trial_cost(prices: Mapping[str, float], device_type: str, seconds: float, share: float) -> dict[str, Any]:
    """The cost attributes of one trial that held ``share`` of a ``device_type`` for ``seconds``."""
    record: dict[str, Any] = {
        attrs.DEVICE_SECONDS: round(seconds, 3),
        attrs.DEVICE_TYPE: device_type,
        attrs.DEVICE_SHARE: share,
    }
    price = price_per_hour(prices, device_type)
    if price is not None:
        record[attrs.COST_USD] = round(seconds * share * price / 3600, 6)
    return record


@dataclass(frozen=True)
class Spend:
    """What a study's trials cost so far."""

    dollars: float
    device_seconds: float
    priced: int  # trials with a recorded cost
    unpriced: int  # finished trials without one (no price for their device)
    by_device: dict[str, float]  # device seconds by device type

    def describe(self) -> str:
        hours = ", ".join(f"{seconds / 3600:.2f} h {device}" for device, seconds in self.by_device.items())
        if not self.priced:  # "$0.00" would read as free
            return f"{hours or 'no device time yet'} over {self.unpriced} trials; no prices, so no dollars"
        unpriced = f"; {self.unpriced} trials without a price" if self.unpriced else ""
        return f"${self.dollars:.2f} over {self.priced} trials ({hours or 'no device time yet'}{unpriced})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "dollars": round(self.dollars, 4),
            "device_seconds": round(self.device_seconds, 1),
            "priced_trials": self.priced,
            "unpriced_trials": self.unpriced,
            "device_seconds_by_type": {k: round(v, 1) for k, v in self.by_device.items()},
        }


def study_spend(trials: Iterable[optuna.trial.FrozenTrial]) -> Spend:
    """The recorded cost of every trial that ran (running trials count once they end)."""
    dollars, seconds, priced, unpriced = 0.0, 0.0, 0, 0
    by_device: dict[str, float] = {}
    for trial in trials:
        held = trial.user_attrs.get(attrs.DEVICE_SECONDS)
        if held is None:
            continue
        seconds += float(held)
        device = str(trial.user_attrs.get(attrs.DEVICE_TYPE, "?"))
        by_device[device] = by_device.get(device, 0.0) + float(held)
        if attrs.COST_USD in trial.user_attrs:
            dollars += float(trial.user_attrs[attrs.COST_USD])
            priced += 1
        else:
            unpriced += 1
    return Spend(dollars, seconds, priced, unpriced, by_device)
