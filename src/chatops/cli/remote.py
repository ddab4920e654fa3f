"""What ``chatops run``, ``rollback``, ``runs``, ``logs`` and ``plan`` do when a service
answers on this host's socket: the same request the API takes, the same output."""

from __future__ import annotations

import json
import sys
from typing import Any
from urllib.parse import quote, urlencode

from chatops.cli.client import EXIT_REFUSED, ServiceClient, ServiceError, exit_code


def run(client: ServiceClient, name: str, *, sha: str | None, dry_run: bool, wait: bool,
        rollback: bool) -> int:
    client.announce()
    body: dict[str, Any] = {"name": name, "dry_run": dry_run, "queue": wait,
                            "rollback": rollback}
    if sha is not None:
        body["sha"] = sha
    try:
        answer = client.request("POST", "/run", body)
    except ServiceError as exc:
        return exc.explain()
    if dry_run:
        from chatops.planning.render import render_plan

        sys.stdout.write(render_plan(answer["plan"]))
        return 0
    sys.stderr.write(f"run {answer['id']} accepted: {answer['intent']} on "
                     f"{', '.join(answer['stacks'])}\n")
    if answer.get("status") == "awaiting_approval":
        sys.stderr.write(awaiting(answer["id"]))
    return exit_code(client.follow(answer["id"]))


def awaiting(run_id: str) -> str:
    return (f"run {run_id} waits for its approvals: the buttons in chat, POST "
            f"/runs/{run_id}/approve, or 'chatops approve {run_id}'\n")


def run_names(client: ServiceClient, names: list[str], *, dry_run: bool, rollback: bool,
              wait: bool, sha: str | None, keep_going: bool) -> int:
    """``chatops run NAME...`` through the service: one run, or a graph when there are
    several names or the intent has ``depends_on`` (as in this process)."""
    graph = len(names) > 1
    if not graph and not dry_run and sha is None:
        # An intent with depends_on brings its dependencies, as in this process; the
        # service said which when the client found it (connect(intent=...)).
        graph = bool(client.depends_on)
    if graph:
        return orchestrate(client, names, dry_run=dry_run, keep_going=keep_going)
    return run(client, names[0], sha=sha, dry_run=dry_run, wait=wait, rollback=rollback)


def orchestrate(client: ServiceClient, names: list[str], *, dry_run: bool,
                keep_going: bool) -> int:
    client.announce()
    try:
        answer = client.request("POST", "/orchestrate", {
            "intents": names, "dry_run": dry_run, "stop_on_failure": not keep_going})
    except ServiceError as exc:
        return exc.explain()
    if dry_run:
        from chatops.planning.render import render_plan

        for plan in answer["plans"].values():
            sys.stdout.write(render_plan(plan) + "\n")
        return 0
    record = client.wait_graph(answer["id"])
    sys.stdout.write(f"{record.get('reason') or record['status']}\n")
    return exit_code(record["status"])


def rollback(client: ServiceClient, stack: str, service: str | None, *, wait: bool) -> int:
    client.announce()
    try:
        answer = client.request("POST", "/rollback", {"stack": stack, "service": service,
                                                      "queue": wait})
    except ServiceError as exc:
        return exc.explain()
    return exit_code(client.follow(answer["id"]))


def maintenance(client: ServiceClient, stack: str, service: str | None, *,
                paused: bool) -> int:
    client.announce()
    try:
        answer = client.request("POST", "/pause" if paused else "/resume",
                                {"stack": stack, "service": service})
    except ServiceError as exc:
        return exc.explain()
    sys.stdout.write(answer["message"] + "\n")
    return 0


def signal(client: ServiceClient, run_id: str, word: str) -> int:
    client.announce()
    try:
        record = client.request("POST", f"/runs/{quote(run_id, safe='')}/{word}")
    except ServiceError as exc:
        return exc.explain()
    sys.stdout.write(f"{word}: run {record['id']} ({record['intent']}) told\n")
    return 0


def verdict(client: ServiceClient, run_id: str, word: str, sha: str | None) -> int:
    client.announce()
    try:
        answer = client.request("POST", f"/runs/{quote(run_id, safe='')}/{word}",
                                {"sha": sha} if sha else None)
    except ServiceError as exc:
        return exc.explain()
    sys.stdout.write(str(answer["message"]).replace("`", "") + "\n")
    return 0


def runs(client: ServiceClient, *, intent: str | None, stack: str | None,
         status: str | None, limit: int) -> list[dict[str, Any]] | int:
    query = {k: v for k, v in {"intent": intent, "stack": stack, "status": status,
                               "limit": min(limit, 500)}.items() if v is not None}
    try:
        return list(client.request("GET", f"/runs?{urlencode(query)}")["runs"])
    except ServiceError as exc:
        return exc.explain()


def logs(client: ServiceClient, run_id: str) -> int:
    """Follow run ``run_id`` to its end."""
    try:
        record = client.request("GET", f"/runs/{quote(run_id, safe='')}")
    except ServiceError as exc:
        return exc.explain()
    sys.stdout.write(f"run {record['id']}: intent {record['intent']}, {record['status']}"
                     f" (by {record['actor']} via {record['trigger']})\n")
    client.follow(record["id"])
    return 0


def plan(client: ServiceClient, name: str, *, json_output: bool) -> int:
    try:
        answer = client.request("GET", f"/intents/{quote(name, safe='')}")
    except ServiceError as exc:
        if exc.code in ("intent_not_found", "invalid_intent_name", "invalid_intent"):
            exc.explain()
            return EXIT_REFUSED
        return exc.explain()
    if json_output:
        sys.stdout.write(json.dumps(answer["plan"], indent=2) + "\n")
        return 0
    from chatops.planning.render import render_plan

    sys.stdout.write(render_plan(answer["plan"]))
    return 0
