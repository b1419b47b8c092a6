"""The default recipe: what a careful user would run without a search.

The task's recommended loss at its library defaults, learning rate 2e-5, batch 32, 1 epoch,
warmup 0.1, no mined negatives and no Matryoshka loss. Beating zero-shot shows that fine-tuning
helps; beating the default recipe shows that searching did. A study that asks for it
(``warm_start.default_recipe``) runs it as its first trial.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpo.settings.space import SearchSpace
    from hpo.training.task import Task

WHERE = "warm_start.default_recipe"


@dataclass(frozen=True)
class Recipe:
    loss: str
    loss_params: Mapping[str, Any] = field(default_factory=dict)
    learning_rate: float = 2e-5
    batch_size: int = 32
    epochs: int = 1
    warmup_ratio: float = 0.1


def default_recipe(task: Task[Any]) -> Recipe:
    """The task's default recipe."""
    return Recipe(task.default_loss or next(iter(task.losses)), dict(task.default_loss_params))


def recipe_trial_params(recipe: Recipe, space: SearchSpace, model: str) -> dict[str, Any]:
    """The Optuna params that run ``recipe`` with ``model`` in ``space``.

    Where the space searches a value, the recipe's is used (a batch size the space lacks: the
    largest it has up to the recipe's, else its smallest); where the space fixes one, the study's
    own value stays. ValueError (one line) when the recipe cannot run in this space.
    """
    if recipe.loss not in space.loss:
        raise ValueError(f"{WHERE}: the recommended loss {recipe.loss} is not in search_space.loss; add it")
    wanted: dict[str, Any] = {
        "model": model,
        "loss": recipe.loss,
        **{f"{recipe.loss}.{name}": value for name, value in recipe.loss_params.items()},
        "learning_rate": recipe.learning_rate,
        "epochs": recipe.epochs,
        "warmup_ratio": recipe.warmup_ratio,
        "hard_negatives.miner": "none",
        "matryoshka_dims": "[]",
    }
    searched = space.searched_params()
    params = {key: value for key, value in wanted.items() if key in searched}
    if "batch_size" in searched:
        choices = sorted(int(str(v)) for v in searched["batch_size"].values())
        fitting = [b for b in choices if b <= recipe.batch_size]
        params["batch_size"] = fitting[-1] if fitting else choices[0]
    return space.recipe_params(params, WHERE)
