"""Consent to run model code from the Hub: the models whoever starts a process names, or all.

A study's config may ask for remote code (``trust_remote_code: true``), but the config lives in
storage that others can write; what runs is decided by the consent given on the command line
(``--trust-remote-code MODEL[,MODEL]`` or ``all``), model by model.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hpo.errors import UsageError

EVERY_MODEL = "all"
FORM = "--trust-remote-code MODEL[,MODEL] or --trust-remote-code all"
_BOOLEANS = {"1", "0", "true", "false", "yes", "no", "on", "off"}


@dataclass(frozen=True)
class RemoteCodeConsent:
    """The models this process may run Hub code for; ``RemoteCodeConsent()`` consents to none."""

    models: frozenset[str] = frozenset()
    everything: bool = False

    @classmethod
    def parse(cls, value: str | None, source: str = "--trust-remote-code") -> RemoteCodeConsent:
        """``None`` or '' -> no consent; 'all' -> every model; 'a,b' -> those models. Old yes/no values are refused."""
        if value is None or not value.strip():
            return cls()
        if value.strip().lower() in _BOOLEANS:
            raise UsageError(f"{source}={value}: name the models you trust: {FORM}")
        names = [part.strip() for part in value.split(",")]
        if any(not name for name in names):
            raise UsageError(f"{source} '{value}': an empty model name; give {FORM}")
        if EVERY_MODEL in names:
            if len(names) > 1:
                raise UsageError(f"{source} '{value}': 'all' stands alone; give {FORM}")
            return cls(everything=True)
        return cls(models=frozenset(names))

    def allows(self, model: str) -> bool:
        """Whether ``model`` may run its code from the Hub."""
        return self.everything or model in self.models

    def refused(self, models: Iterable[str]) -> list[str]:
        """The models of ``models`` this consent does not name, in order, once each."""
        return list(dict.fromkeys(m for m in models if not self.allows(m)))

    def describe(self) -> str:
        """The consent as given on the command line: 'all' or 'a,b'."""
        return EVERY_MODEL if self.everything else ",".join(sorted(self.models))

    def cli_args(self) -> list[str]:
        """The arguments that give a child ``hpo`` process this consent (none when it consents to nothing)."""
        return ["--trust-remote-code", self.describe()] if self.everything or self.models else []
