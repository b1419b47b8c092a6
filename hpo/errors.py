"""The exception hierarchy: every error hpo raises on purpose derives from :class:`HpoError`.

The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``.
"""

from __future__ import annotations

import difflib


class HpoError(Exception):
    """Root of all hpo errors. ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(HpoError):
    """Bad input from the user: a config, a data file, a CLI argument or a storage URL."""

    exit_code = 2


class ConfigError(UsageError):
    """The study config file is missing, unreadable or invalid."""


class DataError(UsageError):
    """The data named by a config cannot be loaded or fails validation."""


class StudyError(UsageError):
    """A study is missing, already exists, or does not match what was asked."""


class StorageError(HpoError):
    """The study storage cannot be reached or used."""


class TrialError(HpoError):
    """A trial failed for a reason that is recorded on the trial (NaN loss, bad batch, ...)."""


def close_match_hint(value: str, allowed: list[str]) -> str:
    """'; did you mean 'x'?' for the allowed value closest to ``value``, or ''."""
    close = difflib.get_close_matches(value, allowed, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def unknown_key_message(key: str, allowed: list[str]) -> str:
    """Say that ``key`` is not one of ``allowed``, suggesting the closest allowed key."""
    return f"unknown key '{key}'{close_match_hint(key, allowed)} (allowed: {', '.join(allowed)})"
