"""The command line as a user meets it."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema

from chatops import __version__
from tests.conftest import EXAMPLE_REPO

CHATOPS = [sys.executable, "-m", "chatops"]


def test_version(cli) -> None:
    assert cli("--version").out == f"chatops {__version__}\n"
    assert cli("-V").code == 0


def test_console_script_runs_as_a_process() -> None:
    done = subprocess.run([*CHATOPS, "--version"], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout) == (0, f"chatops {__version__}\n")


def test_help_lists_the_commands(cli) -> None:
    result = cli("--help")
    assert result.code == 0
    for command in ("validate", "plan", "schema"):
        assert command in result.out


def test_unknown_option_is_a_usage_error_without_traceback(cli) -> None:
    result = cli("validate", "--nope")
    assert result.code == 2
    assert "No such option" in result.err
    assert "Traceback" not in result.err


def test_bad_format_value_is_a_usage_error(cli) -> None:
    result = cli("validate", "--format", "xml", "--repo", str(EXAMPLE_REPO))
    assert result.code == 2
    assert "'xml' is not one of 'text', 'json'" in result.err


def test_schema_is_json_schema_that_accepts_the_examples_and_rejects_typos(cli) -> None:
    import yaml

    result = cli("schema")
    schema = json.loads(result.out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted((EXAMPLE_REPO / "chatops/intents").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert not list(validator.iter_errors(doc)), path
    bad = {"label_required": "l", "action": "rollout", "stack": "s", "servce": "x"}
    assert list(validator.iter_errors(bad))
    scale = {"label_required": "l", "action": "scale", "stack": "s"}
    assert list(validator.iter_errors(scale))
    down = {"label_required": "l", "action": "down", "stack": "s"}
    assert list(validator.iter_errors(down))
