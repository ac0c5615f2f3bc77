"""`scripts/pg.sh`: a crashed server is restarted on its own data, never replaced, and `stop`
deletes only a directory that `start` created (marker file and state file agree).

Each test runs its own server (its own state dir and port), never the shared one."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "pg.sh"

pytestmark = pytest.mark.skipif(
    not glob.glob("/usr/lib/postgresql/*/bin/initdb") and shutil.which("initdb") is None,
    reason="PostgreSQL binaries (initdb, pg_ctl) are not installed",
)


def pg(command: str, state_dir: Path, port: int, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VISION_PG_STATE_DIR": str(state_dir), "VISION_PG_PORT": str(port), **extra}
    return subprocess.run(["bash", str(SCRIPT), command], env=env, capture_output=True,
                          text=True, timeout=180, check=False)


def state_of(state_dir: Path) -> dict[str, str]:
    lines = (state_dir / "state").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def sql(url: str, statement: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


@pytest.fixture
def server(tmp_path):
    state_dir = tmp_path / "pgstate"
    port = 56100 + os.getpid() % 400
    yield state_dir, port
    if (state_dir / "state").exists():
        pg("stop", state_dir, port)


def test_a_server_killed_with_sigkill_is_restarted_with_its_data(server):
    state_dir, port = server
    # Durable, as an operator copying the script would run it: the throwaway default runs with
    # synchronous_commit=off, where the last fraction of a second of commits may die with the
    # server (the cluster itself never does).
    started = pg("start", state_dir, port, VISION_PG_DURABLE="1")
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip().splitlines()[-1]
    sql(url, "CREATE TABLE before_the_crash (id int)")
    sql(url, "INSERT INTO before_the_crash VALUES (42)")
    before = state_of(state_dir)

    pid = int(before["PID"])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid)
    assert Path(before["DATA_DIR"], "postmaster.pid").exists()  # stale, as a crash leaves it

    again = pg("start", state_dir, port)  # durability comes from the state file now
    assert again.returncode == 0, again.stderr
    assert "restart" in again.stderr
    assert again.stdout.strip().splitlines()[-1] == url
    after = state_of(state_dir)
    assert after["DATA_DIR"] == before["DATA_DIR"]
    assert int(after["PID"]) != pid
    assert sql(url, "SELECT id FROM before_the_crash") == [(42,)]
    assert sql(url, "SHOW synchronous_commit") == [("on",)]  # restarted as it was started

    stopped = pg("stop", state_dir, port)
    assert stopped.returncode == 0, stopped.stderr
    assert not Path(before["TMP_DIR"]).exists()  # created by start, so stop deletes it


def test_stop_does_not_delete_a_directory_it_did_not_create(server, tmp_path):
    state_dir, port = server
    # A directory that looks like ours by name but has no marker inside: someone else's.
    theirs = Path(f"/tmp/vision-pgtest.not-ours-{os.getpid()}")
    (theirs / "data").mkdir(parents=True, exist_ok=True)
    (theirs / "data" / "precious").write_text("keep me")
    state_dir.mkdir()
    (state_dir / "state").write_text(
        f"DATA_DIR={theirs}/data\nTMP_DIR={theirs}\nSOCK_DIR={theirs}\nPORT={port}\n"
        "BINDIR=\nPID=\nCREATED_BY_SCRIPT=1\n")
    try:
        stopped = pg("stop", state_dir, port)
        assert stopped.returncode == 0, stopped.stderr
        assert (theirs / "data" / "precious").read_text() == "keep me"
        assert "no marker" in stopped.stderr
    finally:
        shutil.rmtree(theirs, ignore_errors=True)


def test_stop_does_not_delete_a_directory_not_recorded_as_created_by_the_script(server):
    state_dir, port = server
    theirs = Path(f"/tmp/vision-pgtest.recorded-{os.getpid()}")
    (theirs / "data").mkdir(parents=True, exist_ok=True)
    (theirs / ".created-by-vision-pg.sh").write_text(str(theirs))
    state_dir.mkdir()
    # A state file of an older script (no CREATED_BY_SCRIPT line): nothing is deleted.
    (state_dir / "state").write_text(
        f"DATA_DIR={theirs}/data\nTMP_DIR={theirs}\nSOCK_DIR={theirs}\nPORT={port}\nBINDIR=\nPID=\n")
    try:
        stopped = pg("stop", state_dir, port)
        assert stopped.returncode == 0, stopped.stderr
        assert (theirs / "data").is_dir()
        assert "kept" in stopped.stderr
    finally:
        shutil.rmtree(theirs, ignore_errors=True)
