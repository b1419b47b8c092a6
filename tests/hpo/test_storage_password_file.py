"""A Postgres URL without a password takes it from $HPO_STORAGE_PASSWORD_FILE (a compose secret)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.errors import UsageError
from hpo.store.storage import StorageUrl

URL = "postgresql+psycopg2://hpo@db:6432/hpo"


def test_the_password_comes_from_the_file_and_never_prints(tmp_path: Path) -> None:
    secret = tmp_path / "postgres-password"
    secret.write_text("s3cr:t/pw\n")
    url = StorageUrl.resolve(None, {"HPO_STORAGE": URL, "HPO_STORAGE_PASSWORD_FILE": str(secret)})
    assert url.secret == "postgresql+psycopg2://hpo:s3cr%3At%2Fpw@db:6432/hpo"
    assert str(url) == "postgresql+psycopg2://hpo:***@db:6432/hpo"
    assert url.scrub("failed: s3cr:t/pw") == "failed: ***"


def test_a_password_in_the_url_wins(tmp_path: Path) -> None:
    secret = tmp_path / "postgres-password"
    secret.write_text("from-file")
    url = StorageUrl.resolve("postgresql+psycopg2://hpo:given@db/hpo", {"HPO_STORAGE_PASSWORD_FILE": str(secret)})
    assert url.secret == "postgresql+psycopg2://hpo:given@db/hpo"


def test_sqlite_ignores_the_file(tmp_path: Path) -> None:
    url = StorageUrl.resolve(None, {"HPO_STORAGE_PASSWORD_FILE": str(tmp_path / "absent")})
    assert url.secret == "sqlite:///hpo.db"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the password file (No such file or directory)"),
        ("\n", "the password file is empty"),
    ],
)
def test_an_unusable_file_is_one_line(tmp_path: Path, content: str | None, message: str) -> None:
    secret = tmp_path / "postgres-password"
    if content is not None:
        secret.write_text(content)
    with pytest.raises(UsageError) as info:
        StorageUrl.resolve(URL, {"HPO_STORAGE_PASSWORD_FILE": str(secret)})
    assert str(info.value) == f"HPO_STORAGE_PASSWORD_FILE={secret}: {message}"
