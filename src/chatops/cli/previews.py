"""``chatops previews``: the previews the service runs (pull request, stack, address,
state, age, containers), ``previews destroy N`` to remove a pull request's now, and
``previews config`` for the file the preview proxy loads once."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from chatops.cli.client import ServiceClient, ServiceError, connect
from chatops.cli.config import current_settings

EXIT_NO_SERVICE = 3


def _client() -> ServiceClient | None:
    client = connect(local=False)
    if client is None:
        sys.stderr.write("error: previews are the service's: no chatops service answers on "
                         "this host's socket (start it with 'chatops serve')\n")
    return client


def list_command(*, json_output: bool) -> int:
    client = _client()
    if client is None:
        return EXIT_NO_SERVICE
    try:
        found = client.request("GET", "/previews")["previews"]
    except ServiceError as exc:
        return exc.explain()
    if json_output:
        sys.stdout.write(json.dumps(found, indent=2) + "\n")
        return 0
    if not found:
        sys.stdout.write("no preview runs\n")
        return 0
    for p in found:
        age = _age(int(p["age_seconds"]))
        why = f" ({p['reason']})" if p["reason"] else ""
        sys.stdout.write(f"#{p['number']:<5} {p['stack']:<20} {p['state']:<8} {p['url']}  "
                         f"age {age}, {p['running']}/{p['containers']} containers running, "
                         f"removed at {p['expires_at']}{why}\n")
    return 0


def destroy_command(number: int) -> int:
    client = _client()
    if client is None:
        return EXIT_NO_SERVICE
    try:
        answer = client.request("DELETE", f"/previews/{number}")
    except ServiceError as exc:
        return exc.explain()
    sys.stdout.write(f"removed the previews of pull request #{number}: "
                     f"{', '.join(answer['removed'])}\n")
    return 0


def config_command(*, write: bool) -> int:
    from chatops.errors import ChatopsError
    from chatops.previews import ROUTERS, router_for
    from chatops.traffic.haproxy import write_atomically

    settings = current_settings()
    try:
        router = router_for(settings)
        files = router.configuration()
    except ChatopsError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 2
    if not files:
        sys.stdout.write(f"{router.name}: nothing to write; it needs "
                         f"{ROUTERS[router.name].setup}\n")
        return 0
    for path, text in files:
        if write:
            try:
                write_atomically(Path(path), text)
            except ChatopsError as exc:
                sys.stderr.write(f"error: {exc.message}\n")
                return 2
            sys.stdout.write(f"wrote {path}\n")
        else:
            sys.stdout.write(f"# {path}\n{text}\n")
    if write:
        sys.stdout.write(f"{ROUTERS[router.name].setup}\n")
    return 0


def _age(seconds: int) -> str:
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600}h"
