"""Nothing secret leaks: a hook that dumps its environment and prints every secret of the
service in several encodings, deployed for real through ``chatops serve``, leaves none of
them in the state directory, the JSON log, the API's answers, the pages or chat."""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from tests import served
from tests.api.test_dashboard import add_user, sign_in
from tests.docker.conftest import DemoStack
from tests.docker.test_run import intent
from tests.fakes.json_target import JsonTarget

pytestmark = pytest.mark.docker

SECRETS = {
    "CHATOPS_GITHUB_WEBHOOK_SECRET": "gh-webhook-9f8e7d6c5b4a3928",
    "CHATOPS_GITHUB_TOKEN": "ghp_TokenOfTheService0123456789abcdef",
    "CHATOPS_SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
    "CHATOPS_SLACK_BOT_TOKEN": "xoxb-1234-5678-SlackBotTokenValue",
    "CHATOPS_DISCORD_BOT_TOKEN": "MTIzNDU2.Discord-Bot/Token+Value==",
    "CHATOPS_NPM_PASSWORD": "npm password with spaces & symbols!",
}
NOTIFY_PASSWORD = "notify-basic-auth-secret-4711"
SOPS_VALUE = "sops-decrypted-db-password-2718"  # committed encrypted, decrypted by the run


def encodings(value: str) -> list[str]:
    raw = value.encode()
    return [value, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(),
            base64.b64encode(raw).decode().rstrip("="), quote(value, safe=""),
            quote_plus(value), raw.hex()]


LEAK = textwrap.dedent("""\
    import base64, sys
    from urllib.parse import quote, quote_plus
    for value in sys.argv[1:]:
        raw = value.encode()
        print("plain", value)
        print("b64", base64.b64encode(raw).decode(), file=sys.stderr)
        print("b64url", base64.urlsafe_b64encode(raw).decode())
        print("b64 no padding", base64.b64encode(raw).decode().rstrip("="))
        print("url", quote(value, safe=""), "plus", quote_plus(value))
        print("hex", raw.hex(), "in=a-line-with-more", value + value)
    """)
#: A hook that prints the step's decrypted secret, read where hooks read them.
LEAK_SOPS = textwrap.dedent("""\
    import os, pathlib, subprocess, sys
    env = pathlib.Path(os.environ["CHATOPS_SECRETS_DIR"], "app.env").read_text()
    value = env.split("DB_PASSWORD=", 1)[1].splitlines()[0]
    subprocess.run([sys.executable, "scripts/leak.py", value], check=True)
    """)


def test_a_hook_that_prints_every_secret_leaks_none_of_them(
        demo_stack: DemoStack, images, tmp_path: Path) -> None:
    from tests.sops_kit import SopsKit

    chat = JsonTarget()
    secrets = {**SECRETS, "CHATOPS_API_KEY": served.KEY}
    values = [*secrets.values(), NOTIFY_PASSWORD, SOPS_VALUE]
    scripts = demo_stack.root / "scripts"
    scripts.mkdir()
    (scripts / "leak.py").write_text(LEAK)
    (scripts / "leak_sops.py").write_text(LEAK_SOPS)
    python = json.dumps(["python3", "scripts/leak.py", *values[:-1]])
    kit = SopsKit.make(tmp_path / "keys")  # the stack's env_file is a SOPS file
    kit.encrypt(demo_stack.dir / "app.env", f"DB_PASSWORD={SOPS_VALUE}\n")
    demo_stack.compose_file.write_text(demo_stack.compose_file.read_text()
                                       + "    env_file: app.env\n")
    intent(demo_stack, extra=textwrap.dedent(f"""\
        env:
          GREETING: hello from the intent
        hooks:
          pre_deploy:
            - ["/usr/bin/env"]
            - {python}
            - ["python3", "scripts/leak_sops.py"]
        """))
    state = tmp_path / "state"
    log = tmp_path / "service.log"
    assert add_user(state, "ann", "read,run,audit").returncode == 0
    port = chat.url.split(":")[2].split("/")[0]
    service = served.start(demo_stack.root, state, log=log, env={
        **secrets, "APPROVED_LABEL": "approved", "CHATOPS_STABILITY_WINDOW": "0.3s",
        "CHATOPS_AGE_KEY_FILE": str(kit.key_file),
        "CHATOPS_SECRETS_TMP": str(tmp_path / "shm"),
        "CHATOPS_NPM_URL": "http://127.0.0.1:9/", "CHATOPS_NPM_EMAIL": "ops@example.org",
        "CHATOPS_NOTIFY_URLS": f"json://chatops:{NOTIFY_PASSWORD}@127.0.0.1:{port}/hook"})
    try:
        answer = service.post("/run", {"name": "deploy", "wait": True})
        assert answer.status_code == 200, answer.text
        run_id = answer.json()["id"]
        record = service.get(f"/runs/{run_id}")
        assert record.json()["status"] == "succeeded", record.text
        lines = service.get(f"/runs/{run_id}/log")
        audit = service.get("/audit")
        client, _ = sign_in(service)
        page = client.get(f"/ui/runs/{run_id}")
        assert page.status_code == 200
        chat.wait_for("SUCCESS")
    finally:
        stderr = service.stop()
        chat.stop()

    shown = "\n".join([answer.text, record.text, lines.text, audit.text, page.text,
                       json.dumps(chat.received), stderr, log.read_text()])
    # The hooks ran and their output is there, masked.
    assert "GREETING=hello from the intent" in lines.text
    assert "CHATOPS_RUN_ID=" + run_id in lines.text
    assert "PATH=" in lines.text
    assert "plain ***" in lines.text
    assert "b64url ***" in lines.text
    # The service's own variables never reached the hook.
    for name in secrets:
        assert f"{name}=" not in lines.text, name
    assert lines.text.count("plain ***") == len(values)  # the SOPS value's hook too
    # The decrypted value is nowhere on disk: the checkout holds it encrypted, the
    # staged copies are gone.
    on_disk = b"".join(p.read_bytes() for p in [*demo_stack.root.rglob("*"),
                                                *(tmp_path / "shm").rglob("*")] if p.is_file())
    assert SOPS_VALUE.encode() not in on_disk
    stored = b"".join(p.read_bytes() for p in state.rglob("*") if p.is_file())
    for value in values:
        for form in encodings(value):
            assert form not in shown, (value, form)
            assert form.encode() not in stored, (value, form)
