"""Deploy windows and freezes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatops.windows import parse_policy

MON_0859 = datetime(2026, 11, 30, 8, 59, tzinfo=UTC)  # a Monday


def test_weekday_office_hours() -> None:
    policy = parse_policy("mon-fri 09:00-17:00", None)
    assert not policy.is_open(MON_0859)
    assert policy.next_open(MON_0859) == MON_0859.replace(hour=9, minute=0)
    assert policy.is_open(MON_0859.replace(hour=16, minute=59))
    assert not policy.is_open(MON_0859.replace(hour=17))
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert policy.next_open(saturday) == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_several_windows_and_wrapping_days() -> None:
    policy = parse_policy("sat-sun 10:00-12:00; wed 20:00-21:00", None)
    assert policy.is_open(datetime(2026, 12, 6, 11, 0, tzinfo=UTC))  # Sunday
    assert policy.is_open(datetime(2026, 12, 2, 20, 30, tzinfo=UTC))  # Wednesday


def test_freezes() -> None:
    policy = parse_policy(None, "2026-12-20..2027-01-03")
    assert not policy.is_open(datetime(2026, 12, 24, 12, 0, tzinfo=UTC))
    assert policy.next_open(datetime(2026, 12, 24, 12, 0, tzinfo=UTC)) == datetime(
        2027, 1, 4, 0, 0, tzinfo=UTC)
    assert parse_policy(None, "always").next_open(MON_0859) is None
    assert parse_policy(None, None).is_open(MON_0859)


@pytest.mark.parametrize(("windows", "freeze"), [
    ("weekdays 9-5", None), ("mon-fri 17:00-09:00", None), ("xyz 09:00-10:00", None),
    (None, "next christmas"),
])
def test_bad_policies_say_what_was_expected(windows, freeze) -> None:
    with pytest.raises(ValueError, match=r"expected|unknown day|ends before"):
        parse_policy(windows, freeze)


def test_settings_refuse_a_bad_window(cli, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CHATOPS_DEPLOY_WINDOWS", "weekdays 9-5")
    result = cli("runs")
    assert result.code == 4
    assert "CHATOPS_DEPLOY_WINDOWS" in result.err


def test_cli_run_is_refused_during_a_freeze_unless_overridden(cli, gitops, monkeypatch) -> None:
    monkeypatch.setenv("CHATOPS_FREEZE", "always")
    repo = gitops({"x.yaml": "label_required: l\naction: pull\nstack: s\n"})
    refused = cli("run", "--repo", str(repo), "x")
    assert refused.code == 4
    assert "deploys are closed" in refused.err
    assert cli("run", "--repo", str(repo), "x", "--dry-run").code == 0
