"""``hpo tune``'s options, checked and turned into a :class:`TuneRequest`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hpo.errors import UsageError
from hpo.settings.remote_code import RemoteCodeConsent
from hpo.store.storage import STORAGE_ENV, StorageUrl
from hpo.tune.plan import parse_budget


@dataclass(frozen=True)
class TuneRequest:
    """What the user asked for, as parsed by the CLI."""

    data: Path
    budget_seconds: float
    output: Path
    storage_url: StorageUrl
    workers: int = 1
    gpus: str | None = None
    models: tuple[str, ...] = ()
    task: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    positive_label: str | None = None
    plan_only: bool = False
    trust_remote_code: RemoteCodeConsent = field(default_factory=RemoteCodeConsent)


ROLES = ("query", "positive", "relevant_ids", "query_id", "text1", "text2", "label", "score")


def build_request(
    data: Path,
    budget: str,
    output: Path | None,
    storage: str | None,
    workers: int | None,
    gpus: str | None,
    models: str | None,
    task: str | None,
    columns: str | None,
    positive_label: str | None,
    price: float | None,
    plan_only: bool,
    trust_remote_code: RemoteCodeConsent,
    environ: Mapping[str, str] = os.environ,
) -> TuneRequest:
    """The request, or a one-line :class:`UsageError` naming the option that is wrong."""
    if workers is not None and gpus is not None:
        raise UsageError("--workers and --gpus: give one (--gpus runs one worker per GPU)")
    try:
        seconds, dollars = parse_budget(budget)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    devices = len(gpus.split(",")) if gpus and gpus != "all" else 1
    if dollars is not None:
        if price is None:
            raise UsageError(f"--budget {budget}: a money budget needs --price (dollars per device-hour)")
        seconds = dollars / (price * devices) * 3600.0
    elif price is not None:
        raise UsageError("--price applies to a money budget (--budget $20); this one is wall time")
    output = output or Path(f"tune-{data.resolve().name}")
    if output.exists() and not output.is_dir():
        raise UsageError(f"-o {output}: a file, not a folder")
    url = storage or environ.get(STORAGE_ENV) or f"sqlite:///{(output / 'study.db').resolve()}"
    return TuneRequest(
        data=data,
        budget_seconds=seconds or 0.0,
        output=output,
        storage_url=StorageUrl.parse(url),
        workers=workers or 1,
        gpus=gpus,
        models=tuple(m.strip() for m in models.split(",") if m.strip()) if models else (),
        task=task,
        columns=parse_columns(columns),
        positive_label=positive_label,
        plan_only=plan_only,
        trust_remote_code=trust_remote_code,
    )


def parse_columns(text: str | None) -> dict[str, str]:
    """``text1=q1,text2=q2,label=dup`` -> {role: column}."""
    columns: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        role, sep, column = part.partition("=")
        role, column = role.strip(), column.strip()
        if not sep or not column:
            raise UsageError(f"--columns {text}: give ROLE=COLUMN pairs, e.g. text1=question1,text2=question2")
        if role not in ROLES:
            raise UsageError(f"--columns {text}: unknown role '{role}' (roles: {', '.join(ROLES)})")
        columns[role] = column
    return columns
