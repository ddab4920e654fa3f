"""A rolling deploy's outcome: its status, and the per-host summary as the run record,
the CLI and chat show it."""

from __future__ import annotations

from chatops.application.rolling import Roll
from chatops.chat.commands import outcome
from chatops.store.records import RunRecord, RunStatus


def record(run_id: str, status: RunStatus, reason: str | None = None,
           stacks: tuple[str, ...] = ("web@a",)) -> RunRecord:
    return RunRecord(id=run_id, intent="roll_web", trigger="api", actor="ci",
                     client="127.0.0.1", sha=None, status=status, reason=reason,
                     stacks=list(stacks), dry_run=False, changed=True,
                     created_at="2026-11-27T10:00:00", started_at=None, ended_at=None,
                     pid=None, host=None)


def test_a_roll_that_stops_rolls_the_done_hosts_back() -> None:
    roll = Roll(("a", "b", "c"))
    roll.runs = {"a": record("r1", RunStatus.succeeded),
                 "b": record("r2", RunStatus.rolled_back, "health gate failed")}
    roll.back = {"a": record("r3", RunStatus.succeeded)}
    assert roll.failed == ["b"]
    assert roll.status() is RunStatus.rolled_back
    assert roll.text() == ("stopped at b | a: succeeded (run r1), rolled back: succeeded "
                           "(run r3) | b: rolled_back (run r2): health gate failed | "
                           "c: not started")
    roll.back = {"a": record("r3", RunStatus.failed)}
    assert roll.status() is RunStatus.rollback_failed


def test_kept_hosts_and_a_clean_roll() -> None:
    kept = Roll(("a", "b"), kept=True)
    kept.runs = {"a": record("r1", RunStatus.succeeded),
                 "b": record("r2", RunStatus.failed, "pull failed")}
    assert kept.status() is RunStatus.failed
    assert "a: succeeded (run r1), kept (keep_done_hosts)" in kept.text()
    clean = Roll(("a", "b"))
    clean.runs = {h: record(f"r{h}", RunStatus.succeeded) for h in ("a", "b")}
    assert clean.status() is RunStatus.succeeded
    assert clean.text() == "rolled out to 2 host(s) | a: succeeded (run ra) | " \
        "b: succeeded (run rb)"


def test_chat_shows_one_line_per_host() -> None:
    parent = record("p1", RunStatus.rolled_back, "stopped at b | a: succeeded (run r1) | "
                    "b: rolled_back (run r2): gate | c: not started",
                    stacks=("web@a", "web@b", "web@c"))
    assert outcome(parent).splitlines()[1:] == [
        "    stopped at b", "    • a: succeeded (run r1)", "    • b: rolled_back (run r2): gate",
        "    • c: not started"]
