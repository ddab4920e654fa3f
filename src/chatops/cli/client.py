"""The CLI as a client of a running ``chatops serve``, over its unix socket.

When a service runs on this host, it owns the run queues, the stack locks, the outbox and
the audit chain: ``chatops run``, ``rollback``, ``runs``, ``logs`` and ``plan`` ask it
instead of doing the work in their own process, and their runs show in the service's
history and audit trail as ``via cli``. This module imports only the standard library,
so these commands start fast.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from chatops.cli import wire
from chatops.paths import StatePaths

CONNECT_TIMEOUT = 2.0
#: Exit codes of ``chatops run`` and ``rollback`` by run status, as they are documented.
EXIT_CODES = {"succeeded": 0, "failed": 1, "rolled_back": 2, "rollback_failed": 3,
              "interrupted": 130, "denied": 4, "expired": 4, "superseded": 4}
EXIT_REFUSED = 4


def exit_code(status: object) -> int:
    """The exit code of a run that ended with ``status`` (a ``RunStatus`` or its name)."""
    return EXIT_CODES.get(str(status), 1)


class ServiceError(Exception):
    """The service refused: its status, code, message, and what else it said."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error") or {}
        self.status, self.body = status, body
        self.code = str(error.get("code", "error"))
        self.message = str(error.get("message", f"HTTP {status}"))
        self.problems = error.get("problems") or []
        super().__init__(self.message)

    def explain(self) -> int:
        if self.problems:
            sys.stderr.write("error: the intent is invalid; nothing was run:\n")
            for p in self.problems:
                where = p.get("file", "")
                if p.get("doc"):
                    where += f" (doc {p['doc']}/{p.get('docs')})"
                field = f"{p['field']}: " if p.get("field") else ""
                sys.stderr.write(f"  ✗ {where}: {field}{p.get('message')}\n")
            return EXIT_REFUSED
        hint = "; --override-window deploys anyway" if self.code == "outside_deploy_window" \
            else ""
        sys.stderr.write(f"error: {self.message}{hint}\n")
        return EXIT_REFUSED


class ServiceClient:
    def __init__(self, path: Path, actor: str, *, override_window: bool = False) -> None:
        self.path = path
        self.pid: int | None = None
        self.depends_on: list[str] | None = None  # of the intent asked about in find
        self.headers = {"X-Chatops-Actor": actor, "Content-Type": "application/json"}
        if override_window:
            self.headers["X-Chatops-Override-Window"] = "1"

    @classmethod
    def find(cls, state: StatePaths, actor: str, *, override_window: bool = False,
             repo: Path | None = None, intent: str | None = None) -> ServiceClient | None:
        """A client of the service of this state directory, when one answers (and, for
        commands about a repository, serves ``repo``)."""
        path = state.socket
        if not path.exists():
            return None
        client = cls(path, actor, override_window=override_window)
        target = "/local" if intent is None else f"/local?intent={quote(intent, safe='')}"
        try:
            info = client.request("GET", target, timeout=CONNECT_TIMEOUT)
        except (OSError, ServiceError, ValueError):
            return None
        if repo is not None and Path(str(info.get("repo"))).resolve() != repo.resolve():
            return None  # another repository: this command runs here
        client.pid = info.get("pid")
        client.depends_on = info.get("depends_on")
        return client

    def request(self, method: str, target: str, body: Any = None,
                timeout: float | None = None) -> dict[str, Any]:
        resp = wire.send(self.path, method, target, headers=self.headers, timeout=timeout,
                         body=None if body is None else json.dumps(body).encode())
        try:
            data = resp.read()
        finally:
            resp.close()
        try:
            answer = json.loads(data) if data else {}
        except ValueError:
            answer = {"error": {"code": "bad_answer", "message": data[:200].decode(
                "utf-8", "replace")}}
        if resp.status >= 400:
            raise ServiceError(resp.status, answer)
        return dict(answer)

    def events(self, target: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Server-sent events of ``target``: (event, data) until the stream ends."""
        resp = wire.send(self.path, "GET", target, headers=self.headers)
        try:
            if resp.status >= 400:
                raise ServiceError(resp.status, json.loads(resp.read() or b"{}"))
            event, data = "message", ""
            for raw in resp.lines():
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not line:
                    if data:
                        yield event, json.loads(data)
                    event, data = "message", ""
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip()
        finally:
            resp.close()

    # -- what the commands do through it ------------------------------------------------

    def announce(self) -> None:
        sys.stderr.write(f"via the chatops service (pid {self.pid}, {self.path}); "
                         "--local runs it in this process\n")

    def follow(self, run_id: str) -> str:
        """Print the run's output as it comes; its final status."""
        status = "interrupted"
        for event, data in self.events(f"/runs/{run_id}/log"):
            if event == "line":
                sys.stdout.write(f"{str(data.get('ts', ''))[11:23]} "
                                 f"{data.get('stream', ''):<7} {data.get('line', '')}\n")
                sys.stdout.flush()
            elif event == "outcome":
                status = str(data.get("status"))
                reason = f": {data['reason']}" if data.get("reason") else ""
                sys.stdout.write(f"{status}{reason}\n")
        return status

    def wait_graph(self, parent_id: str) -> dict[str, Any]:
        """Poll the orchestration until it ends, printing each child's change."""
        seen: dict[str, str] = {}
        while True:
            record = self.request("GET", f"/runs/{parent_id}")
            for child in record.get("children") or []:
                key = f"{child['intent']}:{child['status']}"
                if seen.get(child["id"]) != key:
                    seen[child["id"]] = key
                    sys.stdout.write(f"{child['intent']}: {child['status']} "
                                     f"({child['id']})\n")
                    sys.stdout.flush()
            if record.get("status") not in ("queued", "running"):
                return record
            time.sleep(0.3)


def actor() -> str:
    """Who runs this command, as the run history shows it."""
    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def connect(*, local: bool, override_window: bool = False,
            repo: Path | bool | None = False, intent: str | None = None
            ) -> ServiceClient | None:
    """The running service's client, unless ``--local`` or none answers. ``repo``: the
    repository the command is about (None: the usual lookup), or False for none."""
    if local:
        return None
    from chatops.paths import configured

    where: Path | None = None
    if repo is not False:
        where = Path(repo or configured("repo") or ".")  # type: ignore[arg-type]
    return ServiceClient.find(StatePaths.resolve(), actor(),
                              override_window=override_window, repo=where, intent=intent)
