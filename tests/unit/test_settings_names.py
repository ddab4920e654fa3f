"""Every setting has one name, and a misspelt CHATOPS_* variable is reported, not ignored."""

from __future__ import annotations

import pytest

from chatops.errors import ConfigError
from chatops.settings import Settings
from chatops.settings.names import (
    HOST_VARIABLES,
    SERVICE_VARIABLES,
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
    from chatops.settings import names

    monkeypatch.setattr(names, "_WARNED", False)
    result = cli("runs", "--local", "--format", "json")
    assert result.code == 0
    assert ("warning: CHATOPS_STABILITY_WINDOWS is not a chatops setting; did you mean "
            "CHATOPS_STABILITY_WINDOW?") in result.err


def test_a_config_file_may_group_settings_in_sections(tmp_path) -> None:
    config = tmp_path / "chatops.toml"
    config.write_text('log_level = "debug"\n[deploy]\ndeploy_branch = "prod"\n'
                      '[server]\nport = 9100\n[chat]\nslack_api = "http://127.0.0.1:9"\n')
    settings = Settings.load({"CHATOPS_CONFIG": str(config), "CHATOPS_PORT": "9200"})
    assert (settings.log_level, settings.deploy_branch, settings.port, settings.slack_api) \
        == ("DEBUG", "prod", 9200, "http://127.0.0.1:9")


def test_a_setting_twice_in_the_config_file_is_refused(tmp_path) -> None:
    config = tmp_path / "chatops.toml"
    config.write_text('port = 9100\n[server]\nport = 9200\n')
    with pytest.raises(ConfigError, match=r"CHATOPS_CONFIG: .*'port' is set twice"):
        Settings.load({"CHATOPS_CONFIG": str(config)})


def test_each_section_is_named_once_and_holds_its_own_settings() -> None:
    from chatops.settings import SECTIONS

    owners: dict[str, str] = {}
    for name, section in SECTIONS.items():
        for field in section.model_fields:
            assert field not in owners, f"{field} is in [{owners[field]}] and [{name}]"
            owners[field] = name
    assert set(owners) == set(Settings.model_fields)
