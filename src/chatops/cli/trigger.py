"""``chatops trigger``: start a run on a chatops service and follow it (for CI jobs).

Exit codes as ``chatops run`` (0 succeeded, 1 failed, 2 rolled back, 3 rollback failed,
4 refused, 130 interrupted), and 124 when ``--timeout`` passes first. Under GitHub
Actions it also writes ``::error::`` annotations and a summary to $GITHUB_STEP_SUMMARY.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from chatops import tls

EXIT = {"succeeded": 0, "failed": 1, "rolled_back": 2, "rollback_failed": 3,
        "interrupted": 130}
EXIT_REFUSED, EXIT_TIMEOUT = 4, 124


def _actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _annotate(message: str) -> None:
    if _actions():
        clean = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        sys.stdout.write(f"::error title=chatops::{clean}\n")


def _summary(rows: list[dict[str, Any]]) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path or not _actions():
        return
    lines = ["| intent | run | status | reason |", "| --- | --- | --- | --- |"]
    for r in rows:
        reason = str(r.get("reason") or "").replace("|", "\\|").replace("\n", " ")[:300]
        lines.append(f"| {r.get('intent')} | {r.get('id')} | {r.get('status')} | {reason} |")
    with Path(path).open("a", encoding="utf-8") as fh:
        fh.write("### chatops\n\n" + "\n".join(lines) + "\n\n")


def trigger(name: str, url: str, *, sha: str | None, wait: bool, timeout: float) -> int:
    key = os.environ.get("CHATOPS_API_KEY")
    if not key:
        sys.stderr.write("error: CHATOPS_API_KEY is not set (the service's API key)\n")
        return EXIT_REFUSED
    base = url.rstrip("/")
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    body: dict[str, Any] = {"name": name}
    if sha:
        body["sha"] = sha
    deadline = time.monotonic() + timeout
    try:
        with tls.client(timeout=30.0) as client:
            resp = client.post(f"{base}/run", headers=headers, content=json.dumps(body))
            if resp.status_code != 200:
                try:
                    err = resp.json()["error"]
                    text = f"{err['code']}: {err['message']}"
                except (ValueError, KeyError, TypeError):
                    text = resp.text[:300]
                sys.stderr.write(f"error: {base}/run answered {resp.status_code}: {text}\n")
                _annotate(f"{name}: refused ({resp.status_code}) {text}")
                return EXIT_REFUSED
            run = resp.json()
            sys.stdout.write(f"run {run['id']}: {name} accepted ({run['status']})\n")
            if not wait:
                return 0
            outcome = _follow(client, base, run["id"], key, deadline)
    except httpx.HTTPError as exc:
        sys.stderr.write(f"error: cannot reach {base}: {type(exc).__name__}: {exc}\n")
        _annotate(f"{name}: cannot reach {base}")
        return EXIT_REFUSED
    if outcome is None:
        sys.stderr.write(f"error: run {run['id']} did not end within {timeout:g}s\n")
        _annotate(f"{name}: run {run['id']} did not end within {timeout:g}s")
        return EXIT_TIMEOUT
    status = outcome.get("status", "failed")
    _summary([{"intent": name, "id": run["id"], "status": status,
               "reason": outcome.get("reason")}])
    sys.stdout.write(f"{status}" + (f": {outcome['reason']}" if outcome.get("reason") else "")
                     + "\n")
    if status != "succeeded":
        _annotate(f"{name}: {status}: {outcome.get('reason') or ''}")
    return EXIT.get(status, 1)


def _follow(client: httpx.Client, base: str, run_id: str, key: str, deadline: float
            ) -> dict[str, Any] | None:
    """Print the run's log live (server-sent events) until its outcome arrives."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    try:
        with client.stream("GET", f"{base}/runs/{run_id}/log", headers={"X-API-Key": key},
                           timeout=httpx.Timeout(30.0, read=max(1.0, remaining))) as resp:
            event = None
            for line in resp.iter_lines():
                if time.monotonic() > deadline:
                    return None
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    if event == "outcome":
                        return dict(data)
                    sys.stdout.write(f"  {data.get('line', '')}\n")
                    sys.stdout.flush()
    except httpx.ReadTimeout:
        return None
    return None
