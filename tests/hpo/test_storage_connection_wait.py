"""A worker that finds every Postgres connection taken waits for one (with a clear line) instead of exiting."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import pytest

from hpo.store.storage import Storage, StorageUrl, open_storage


@pytest.mark.postgres
def test_a_full_server_is_waited_for(postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    import sqlalchemy

    role = f"hpo_full_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 2"))
        conn.execute(sqlalchemy.text(f"GRANT ALL ON SCHEMA public TO {role}"))
    scheme, rest = postgres_url.split("://", 1)
    as_role = f"{scheme}://{role}@{rest.split('@', 1)[-1]}"
    holder = sqlalchemy.create_engine(as_role, poolclass=sqlalchemy.pool.NullPool)
    held = [holder.connect(), holder.connect()]  # every slot the role has
    opened: list[Storage] = []
    try:
        with caplog.at_level(logging.WARNING, logger="hpo.store.storage"):
            thread = threading.Thread(target=lambda: opened.append(open_storage(StorageUrl.parse(as_role))))
            thread.start()
            time.sleep(3.0)
            assert thread.is_alive()  # still waiting, not failed
            for conn in held:
                conn.close()
            thread.join(timeout=60)
        assert opened, "the storage did not open once a connection was free"
        assert any("has no free connection" in r.getMessage() for r in caplog.records)
    finally:
        for conn in held:
            conn.close()
        holder.dispose()
        for storage in opened:
            storage.backend.engine.dispose()  # type: ignore[attr-defined]
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f"DROP OWNED BY {role}"))
            conn.execute(sqlalchemy.text(f"DROP ROLE {role}"))
        admin.dispose()
