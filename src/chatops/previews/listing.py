"""What is said of previews: the pull request comment's part about them, and which port
of the range a new one takes."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Mapping

from chatops.store.previews import PreviewRow

MARK = "<!-- chatops:previews -->"
STATES = {"up": "✅ up", "failed": "❌ failed", "starting": "⏳ starting"}


def comment_section(rows: list[PreviewRow], notes: Mapping[str, str],
                    url: Callable[[str], str]) -> str:
    """A table of the pull request's previews and why any failed or was refused ('' with
    neither)."""
    if not rows and not notes:
        return ""
    out = [MARK, "#### Previews", "", "| stack | address | state | head | removed at |",
           "| --- | --- | --- | --- | --- |"]
    out += [f"| {r.stack} | {url(r.hosts[-1])} | {STATES.get(r.state, r.state)} | "
            f"`{r.head[:12]}` | {r.expires_at} |" for r in rows]
    out += [f"- ❌ `{r.stack}`: {r.reason}" for r in rows if r.state == "failed"]
    out += [f"- ⛔ `{stack}`: {why}" for stack, why in sorted(notes.items())]
    return "\n".join(out)


def hosts_for(domain: str, number: int, stack: str, rows: list[PreviewRow]
              ) -> tuple[str, ...]:
    """A new preview's names: ``STACK.pr-N.DOMAIN``, and ``pr-N.DOMAIN`` for the pull
    request's first (it keeps it while it lives)."""
    short = f"pr-{number}.{domain}"
    taken = any(short in r.hosts for r in rows)
    return (f"{stack}.{short}",) + (() if taken else (short,))


def url_of(listen: str | None, host: str) -> str:
    """How people reach ``host`` through the proxy on ``listen``."""
    port = (listen or ":80").rsplit(":", 1)[1]
    return f"http://{host}" + ("" if port == "80" else f":{port}")


def free_port(ports: Iterable[int], taken: set[int]) -> int | None:
    """The first port of ``ports`` no preview holds and nothing listens on (loopback)."""
    for port in ports:
        if port not in taken and _bindable(port):
            return port
    return None


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
