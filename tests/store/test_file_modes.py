"""Issue 11 §12: the SQLite database and its WAL/SHM files are 0600, like the key file, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from authsvc.store.engine import create_engine


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # the common default, under which SQLite itself creates files 0644
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_database_and_its_wal_files_are_0600(tmp_path: Path, open_umask: None) -> None:
    db = tmp_path / "data" / "authsvc.db"
    engine = create_engine(f"sqlite:///{db}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        await engine.dispose()


async def test_an_existing_readable_database_is_tightened(tmp_path: Path, open_umask: None) -> None:
    db = tmp_path / "authsvc.db"
    engine = create_engine(f"sqlite:///{db}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (x INTEGER)"))
    await engine.dispose()
    db.chmod(0o644)  # e.g. created by an earlier version
    engine = create_engine(f"sqlite:///{db}")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
        assert mode(db) == 0o600
    finally:
        await engine.dispose()
