"""Every setting has one name, and a misspelt CHATOPS_* variable is reported, not ignored."""

from __future__ import annotations

from chatops.server.settings import ServerSettings
from chatops.settings import SERVICE_VARIABLES, unknown_variables


def test_the_services_variables_are_exactly_its_settings() -> None:
    names = set()
    for field, info in ServerSettings.model_fields.items():
        alias = info.validation_alias
        choices = getattr(alias, "choices", None) or [f"CHATOPS_{field.upper()}"]
        names |= {c for c in choices if isinstance(c, str) and c.startswith("CHATOPS_")}
    assert names == SERVICE_VARIABLES


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
