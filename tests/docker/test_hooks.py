"""Deploy hooks on the real engine: the operator's commands before, after and on failure,
with their documented environment, their veto, and their timeout."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.docker.conftest import DemoStack, http_get, wait_for_http
from tests.docker.test_run import intent, last_run

pytestmark = pytest.mark.docker

HOOK = textwrap.dedent("""\
    import json, os, subprocess, sys, time
    name, code = sys.argv[1], int(sys.argv[2])
    env = {k: v for k, v in os.environ.items() if k.startswith("CHATOPS_")}
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hook-out")
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump({"env": env, "cwd": os.getcwd()}, f)
    print(f"hook {name} says hello")
    if len(sys.argv) > 3:  # hang, with a child in the same process group
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open(os.path.join(out, name + ".child"), "w") as f:
            f.write(str(child.pid))
        time.sleep(600)
    sys.exit(code)
    """)


@pytest.fixture(autouse=True)
def short_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATOPS_STABILITY_WINDOW", "0.5s")


@pytest.fixture
def hooks(tmp_path: Path):
    """A hook program; ``call(name, code)`` is its argv as YAML flow list."""
    script = tmp_path / "hook.py"
    script.write_text(HOOK)
    out = tmp_path / "hook-out"  # beside the script: hooks get no variable of ours
    out.mkdir()

    def call(name: str, code: int = 0, *extra: str) -> str:
        return json.dumps([sys.executable, str(script), name, str(code), *extra])

    call.out = out  # type: ignore[attr-defined]
    return call


def seen(hooks, name: str) -> dict[str, object]:
    return json.loads((hooks.out / f"{name}.json").read_text())


def with_hooks(stack: DemoStack, block: str, **kw: object) -> str:
    return intent(stack, extra=textwrap.dedent(block), **kw)


def test_hooks_run_around_a_deploy_with_their_environment(cli, demo_stack, images,
                                                          hooks) -> None:
    intent(demo_stack)
    assert cli("run", "--repo", str(demo_stack.root), "deploy").code == 0
    v1 = images("v1")
    v2 = images("v2")
    demo_stack.write(v2)
    with_hooks(demo_stack, f"""\
        hooks:
          pre_deploy:
            - {hooks("pre")}
          post_deploy:
            - {{run: {hooks("post")}, timeout: 30s}}
        """)

    plan = cli("plan", "deploy", "--repo", str(demo_stack.root), "--local")
    assert "hook pre_deploy: $ " in plan.out
    assert "hook post_deploy: $ " in plan.out
    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code == 0, result.out + result.err
    record = last_run(demo_stack)
    pre, post = seen(hooks, "pre"), seen(hooks, "post")
    env = pre["env"]
    assert env["CHATOPS_INTENT"] == "deploy"
    assert env["CHATOPS_STACK"] == demo_stack.name
    assert env["CHATOPS_SERVICE"] == "web"
    assert env["CHATOPS_ACTION"] == "rollout"
    assert env["CHATOPS_STRATEGY"] == "recreate"
    assert env["CHATOPS_RUN_ID"] == record.id
    assert env["CHATOPS_ACTOR"] == record.actor
    assert env["CHATOPS_SHA"] == ""
    assert env["CHATOPS_OLD_IMAGE"] == v1
    assert env["CHATOPS_NEW_IMAGE"] == v2
    assert "CHATOPS_OUTCOME" not in env
    assert pre["cwd"] == str(demo_stack.root.resolve())  # the GitOps repository
    assert post["env"]["CHATOPS_RUN_ID"] == record.id
    # Their output is in the run log, in order around the change.
    order = [s["phase"] if s["phase"].startswith("hook") else s["description"]
             for s in record.steps]
    change = next(i for i, d in enumerate(order) if d.startswith("recreate service web"))
    assert order.index("hook pre_deploy") < change < order.index("hook post_deploy")
    assert "hook pre says hello" in result.out


def test_a_failing_pre_deploy_hook_vetoes_the_run(cli, demo_stack, images, hooks) -> None:
    intent(demo_stack)
    assert cli("run", "--repo", str(demo_stack.root), "deploy").code == 0
    before = demo_stack.compose("ps", "-q").stdout.strip()
    demo_stack.write(images("v2"))
    with_hooks(demo_stack, f"""\
        hooks:
          pre_deploy:
            - {hooks("backup", 3)}
        """)

    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code == 1
    reason = last_run(demo_stack).reason
    assert "pre_deploy hook" in reason
    assert "failed: exit code 3" in reason
    assert reason.endswith("(nothing was changed)")
    assert demo_stack.compose("ps", "-q").stdout.strip() == before
    assert http_get(demo_stack.url + "/version")[1].strip() == "v1"


def test_a_failing_post_deploy_hook_is_reported_and_rolls_back_only_when_asked(
        cli, demo_stack, images, hooks) -> None:
    intent(demo_stack)
    assert cli("run", "--repo", str(demo_stack.root), "deploy").code == 0
    demo_stack.write(images("v2"))
    with_hooks(demo_stack, f"""\
        hooks:
          post_deploy:
            - {hooks("purge", 5)}
        """)
    result = cli("run", "--repo", str(demo_stack.root), "deploy")
    assert result.code == 0, result.out + result.err
    record = last_run(demo_stack)
    assert record.status == "succeeded"
    assert "succeeded, but post_deploy hook" in record.reason
    assert "rollback_on_hook_failure is off" in record.reason
    assert http_get(demo_stack.url + "/version")[1].strip() == "v2"

    demo_stack.write(images("v3"))
    with_hooks(demo_stack, f"""\
        hooks:
          post_deploy:
            - {hooks("purge", 5)}
          on_failure:
            - {hooks("page", 7)}
        rollback_on_hook_failure: true
        """)
    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code == 2, result.out + result.err
    record = last_run(demo_stack)
    assert record.status == "rolled_back"
    assert http_get(demo_stack.url + "/version")[1].strip() == "v2"
    # on_failure ran after the rollback, knew how the run ended, and its own failure is
    # added to the reason without hiding the first one.
    page = seen(hooks, "page")["env"]
    assert page["CHATOPS_OUTCOME"] == "rolled_back"
    assert page["CHATOPS_OLD_IMAGE"] == images("v2")  # what the step found running
    assert page["CHATOPS_NEW_IMAGE"] == images("v3")
    assert record.reason.index("post_deploy hook") < record.reason.index("on_failure hook")
    assert "on_failure hook" in record.reason
    assert "exit code 7" in record.reason
    phases = [s["phase"] for s in record.steps]
    assert phases.index("rollback") < phases.index("hook on_failure")


def test_a_hanging_hook_is_killed_with_its_process_group(cli, demo_stack, images,
                                                        hooks) -> None:
    intent(demo_stack)
    assert cli("run", "--repo", str(demo_stack.root), "deploy").code == 0
    demo_stack.write(images("v2"))
    with_hooks(demo_stack, f"""\
        hooks:
          pre_deploy:
            - {{run: {hooks("hang", 0, "hang")}, timeout: 1s}}
        """)
    start = time.monotonic()

    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code == 1
    assert time.monotonic() - start < 30
    assert "timed out after" in last_run(demo_stack).reason
    child = int((hooks.out / "hang.child").read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        state = Path(f"/proc/{child}/stat").read_text().split()[2] \
            if Path(f"/proc/{child}/stat").exists() else "X"
        if state == "Z":
            break
        time.sleep(0.1)
    assert not Path(f"/proc/{child}").exists() or \
        Path(f"/proc/{child}/stat").read_text().split()[2] == "Z"
    assert http_get(demo_stack.url + "/version")[1].strip() == "v1"
    wait_for_http(demo_stack.url + "/version", "v1")


def test_hooks_given_as_strings_are_refused_naming_the_field(cli, gitops) -> None:
    repo = gitops({"bad.yaml": """\
        label_required: approved
        action: rollout
        stack: web
        hooks:
          pre_deploy:
            - /usr/local/bin/backup --all
        """})

    result = cli("validate", "--repo", str(repo))

    assert result.code == 1
    assert "hooks.pre_deploy[0]: expected an argv list such as" in result.out
    assert "hooks never run through a shell" in result.out
    assert "(line 6" in result.out



