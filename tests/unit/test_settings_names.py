"""Every setting has one name, and a misspelt CHATOPS_* variable is reported, not ignored."""

from __future__ import annotations

from chatops.settings import (
    HOST_VARIABLES,
    SERVICE_VARIABLES,
    Settings,
    env_names,
    unknown_variables,
)


def test_every_setting_has_its_variable_and_every_variable_a_setting() -> None:
    names = {n for field in Settings.model_fields for n in env_names(field)
             if n.startswith("CHATOPS_")}
    read_elsewhere = {"CHATOPS_CONFIG", "CHATOPS_DEBUG", "CHATOPS_URL"}
    assert names == (HOST_VARIABLES | SERVICE_VARIABLES) - read_elsewhere


def test_a_misspelt_variable_is_named_with_a_guess() -> None:
    env = {"CHATOPS_MAX_PARALEL": "3", "CHATOPS_STATE_DIR": "/x", "CHATOPS_ZZZ": "1",
           "HOME": "/root"}
    assert unknown_variables(env) == [
        "CHATOPS_MAX_PARALEL is not a chatops setting; did you mean CHATOPS_MAX_PARALLEL?",
        "CHATOPS_ZZZ is not a chatops setting",
    ]


def test_the_cli_warns_about_a_misspelt_variable(cli, monkeypatch) -> None:
    monkeypatch.setenv("CHATOPS_STABILITY_WINDOWS", "1s")
    from chatops import settings

    monkeypatch.setattr(settings, "_WARNED", False)
    result = cli("runs", "--local", "--format", "json")
    assert result.code == 0
    assert ("warning: CHATOPS_STABILITY_WINDOWS is not a chatops setting; did you mean "
            "CHATOPS_STABILITY_WINDOW?") in result.err
