"""Run history and locks: records survive, dead runs are found, stacks are never shared."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from chatops.errors import LockBusyError, RunNotFoundError, StoreError
from chatops.locks import Locks
from chatops.store.records import RunStatus
from chatops.store.sqlite import RunStore


def new_store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "state" / "chatops.sqlite3")


def test_store_uses_wal_and_keeps_runs(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    run = store.create_run(intent="i", trigger="cli", actor="me", client="local",
                           stacks=["b", "a"])
    store.mark_running(run.id)
    seq = store.start_step(run.id, doc=1, phase="deploy", description="pull", argv=["x"])
    store.finish_step(run.id, seq, exit_code=0, timed_out=False, error=None, duration=0.5,
                      tail=["done"])
    store.add_line(run.id, "t", "stdout", "hello")
    store.finish_run(run.id, RunStatus.succeeded, None)
    store.close()
    mode = sqlite3.connect(tmp_path / "state" / "chatops.sqlite3").execute(
        "PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    again = new_store(tmp_path)
    record = again.get_run(run.id)
    assert record.status == "succeeded"
    assert record.stacks == ["a", "b"]
    assert record.steps[0]["output_tail"] == ["done"]
    assert [ln["line"] for ln in again.lines(run.id)] == ["hello"]
    assert [r.id for r in again.list_runs(stack="a")] == [run.id]
    assert again.list_runs(stack="zzz") == []


def test_unknown_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RunNotFoundError, match="no run with id 'nope'"):
        new_store(tmp_path).get_run("nope")


def test_unwritable_state_directory_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot create the state directory"):
        RunStore(blocker / "sub" / "db.sqlite3")


def test_corrupt_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the run history"):
        RunStore(path)


def _hold(lock_dir: str, run_id: str, ready, release) -> None:  # pragma: no cover - child
    locks = Locks(Path(lock_dir))
    held = locks.hold_run(run_id)
    ready.set()
    release.wait(10)
    held.release()


def test_runs_of_dead_processes_are_marked_interrupted(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    locks = Locks(tmp_path / "locks")
    dead = store.create_run(intent="i", trigger="cli", actor="me", client="local", stacks=["s"])
    store.mark_running(dead.id)
    alive = store.create_run(intent="i", trigger="cli", actor="me", client="local", stacks=["s"])
    store.mark_running(alive.id)
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold, args=(str(tmp_path / "locks"), alive.id, ready, release))
    child.start()
    try:
        assert ready.wait(10)
        assert store.recover_interrupted(locks.run_alive) == [dead.id]
        assert store.get_run(dead.id).status == "interrupted"
        assert store.get_run(alive.id).status == "running"
    finally:
        release.set()
        child.join(10)
    assert store.recover_interrupted(locks.run_alive) == [alive.id]


def test_a_busy_stack_refuses_when_asked_not_to_wait(tmp_path: Path) -> None:
    locks = Locks(tmp_path)
    first = asyncio.run(locks.acquire(["media"], owner="run A", wait=False, sleep=asyncio.sleep))
    with pytest.raises(LockBusyError, match="stack 'media' is busy: run A"):
        asyncio.run(locks.acquire(["media"], owner="run B", wait=False, sleep=asyncio.sleep))
    other = asyncio.run(locks.acquire(["home"], owner="run C", wait=False, sleep=asyncio.sleep))
    first.release()
    second = asyncio.run(locks.acquire(["media"], owner="run B", wait=False,
                                       sleep=asyncio.sleep))
    second.release()
    other.release()


def test_a_waiting_run_gets_the_stack_when_it_is_released(tmp_path: Path) -> None:
    locks = Locks(tmp_path)
    waits: list[str] = []

    async def scenario() -> list[str]:
        order: list[str] = []
        first = await locks.acquire(["s"], owner="A", wait=False, sleep=asyncio.sleep)

        async def second() -> None:
            held = await locks.acquire(["s"], owner="B", wait=True, sleep=asyncio.sleep,
                                       on_wait=lambda stack, holder: waits.append(holder))
            order.append("B got it")
            held.release()

        task = asyncio.create_task(second())
        await asyncio.sleep(0.2)
        order.append("A releases")
        first.release()
        await task
        return order

    assert asyncio.run(scenario()) == ["A releases", "B got it"]
    assert waits == ["A"]
