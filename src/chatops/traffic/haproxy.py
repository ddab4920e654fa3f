"""HAProxy, driven over its runtime API socket: server states change with no reload.

chatops owns one file per blue-green service in ``CHATOPS_HAPROXY_CONFIG`` (a directory
HAProxy loads with ``-f DIR``): a frontend on the stable address and a backend with one
server per slot. A switch sets the new slot ``ready`` and the old one ``drain`` in one
command line, confirms both through ``show stat``, then rewrites the file so that a
restarted HAProxy routes to the same slot. If HAProxy does not answer during the switch,
the file still names the old slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import tempfile
from pathlib import Path

from chatops.errors import ConfigError, ProxyUnavailableError, TrafficError
from chatops.settings import Settings
from chatops.traffic.base import (
    SLOTS,
    Backend,
    Counters,
    DriverKind,
    Routing,
    SlotCounters,
    other,
    register,
    written_live,
)

TIMEOUT = 5.0
_FAILED_FIELDS = ("econ", "eresp", "hrsp_5xx")
_ANSWER_FIELDS = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")


def _quote(text: str) -> str:
    """A string argument of an HAProxy directive, taken as it is: in single quotes
    (HAProxy's strong quoting: no escapes, no ``$VAR`` expansion), a single quote itself
    as ``\\'`` between two quoted parts (HAProxy joins adjacent parts into one word), and
    no control character (a line break would end the directive)."""
    clean = "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in text)
    return "'" + clean.replace("'", "'\\''") + "'"


def render(backend: Backend, live: str | None, *, paused: bool = False) -> str:
    """The frontend and backend chatops writes for ``backend``; ``live`` is enabled."""
    name = backend.name
    state = "paused" if paused else f"live {live or 'none'}"
    lines = [
        f"# Written by chatops for stack {backend.stack}, service {backend.service} "
        f"({state}).",
        "# chatops rewrites this file on every switch: change the intent's traffic block.",
        f"# chatops: {state}",
        "",
        f"frontend {name}",
        f"    bind {backend.listen}",
        "    mode http",
        "    timeout client 60s",
        "    timeout http-request 10s",
        f"    default_backend {name}",
        "",
        f"backend {name}",
        "    mode http",
        "    timeout connect 2s",
        "    timeout server 60s",
        "    timeout queue 10s",
        "    option redispatch",
        "    retries 2",
        "    http-request return status 503"
        + (f" content-type text/plain string {_quote(backend.message)}"
           if backend.message else "") + " if { nbsrv() eq 0 }",
    ]
    for slot in SLOTS:
        enabled = slot == live and not paused
        lines.append(f"    server {slot} {backend.address(slot)}"
                     + ("" if enabled else " disabled"))
    return "\n".join(lines) + "\n"


class HAProxy:
    """One blue-green backend in one HAProxy."""

    def __init__(self, backend: Backend, socket: Path, config_dir: Path) -> None:
        self.backend = backend
        self.socket = socket
        self.config_dir = config_dir

    @property
    def config_path(self) -> Path:
        return self.config_dir / f"{self.backend.name}.cfg"

    # -- the runtime API ---------------------------------------------------------------

    async def command(self, line: str) -> str:
        """Send one command line (``;`` between commands) and read the whole answer."""
        return await runtime_command(self.socket, line)

    async def _stats(self) -> list[dict[str, str]]:
        text = await self.command("show stat")
        if not text.startswith("# "):
            raise TrafficError(f"HAProxy answered 'show stat' with {text.strip()[:200]!r}")
        rows = csv.DictReader(io.StringIO(text[2:]))
        return [r for r in rows if r.get("pxname") == self.backend.name]

    # -- the driver ----------------------------------------------------------------------

    async def check(self) -> None:
        rows = await self._stats()
        servers = {r["svname"]: r for r in rows}
        hint = (f"write it with 'chatops traffic config INTENT --write' (into "
                f"{self.config_dir}) and reload HAProxy once")
        if "BACKEND" not in servers:
            raise TrafficError(f"HAProxy at {self.socket} has no backend "
                               f"{self.backend.name}; {hint}", field="traffic")
        missing = [s for s in SLOTS if s not in servers]
        if missing:
            raise TrafficError(f"HAProxy's backend {self.backend.name} has no server "
                               f"{' or '.join(missing)}; {hint}", field="traffic")
        state = await self.command(f"show servers state {self.backend.name}")
        for line in state.splitlines()[2:]:
            parts = line.split()
            if len(parts) < 19 or parts[3] not in SLOTS:
                continue
            addr, port = parts[4], parts[18]
            want = self.backend.upstreams[parts[3]]
            if (addr, port) != (want[0], str(want[1])):
                raise TrafficError(
                    f"HAProxy's backend {self.backend.name} sends slot {parts[3]} to "
                    f"{addr}:{port}, but the intent's traffic.ports says "
                    f"{want[0]}:{want[1]}; {hint}", field="traffic.ports")

    async def routing(self) -> Routing:
        rows = {r["svname"]: r for r in await self._stats()}
        ready = tuple(s for s in SLOTS if s in rows and _serving(rows[s]["status"]))
        if not ready:
            return Routing(None, (), paused=True)
        if len(ready) == 1:
            return Routing(ready[0], ready)
        # Both take new requests (a switch was cut short): the file says which one chatops
        # meant to be live.
        written = self.written_live()
        return Routing(written if written in ready else ready[0], ready)

    async def switch(self, to: str) -> None:
        name, old = self.backend.name, other(to)
        answer = await self.command(
            f"set weight {name}/{to} 100; set server {name}/{to} state ready; "
            f"set server {name}/{old} state drain")
        if answer.strip():
            raise TrafficError(f"HAProxy refused the switch to {to}: {answer.strip()[:300]}")
        rows = {r["svname"]: r for r in await self._stats()}
        if not (_serving(rows[to]["status"]) and not _serving(rows[old]["status"])):
            raise TrafficError(
                f"HAProxy did not confirm the switch: {to} is {rows[to]['status']}, "
                f"{old} is {rows[old]['status']}")
        self._persist(to)

    async def counters(self) -> Counters:
        rows = {r["svname"]: r for r in await self._stats()}
        total = rows.get("BACKEND", {})
        return Counters(
            open={s: _int(rows[s].get("scur")) for s in SLOTS if s in rows},
            failed=sum(_int(total.get(f)) for f in _FAILED_FIELDS),
            requests=sum(_int(total.get(f)) for f in _ANSWER_FIELDS),
            slots={s: SlotCounters(
                requests=sum(_int(rows[s].get(f)) for f in _ANSWER_FIELDS)
                + _int(rows[s].get("econ")) + _int(rows[s].get("eresp")),
                errors=sum(_int(rows[s].get(f)) for f in _FAILED_FIELDS),
                latency_ms=float(_int(rows[s].get("rtime"))),
            ) for s in SLOTS if s in rows},
        )

    async def weigh(self, canary: str, weight: int) -> None:
        name, stable = self.backend.name, other(canary)
        answer = await self.command(
            f"set weight {name}/{canary} {weight}; set weight {name}/{stable} "
            f"{100 - weight}; set server {name}/{canary} state ready; "
            f"set server {name}/{stable} state ready")
        if answer.strip():
            raise TrafficError(f"HAProxy refused the weights: {answer.strip()[:300]}")
        rows = {r["svname"]: r for r in await self._stats()}
        got = (_int(rows[canary].get("weight")), _int(rows[stable].get("weight")))
        if got != (weight, 100 - weight):
            raise TrafficError(f"HAProxy did not confirm the weights {weight}/"
                               f"{100 - weight}: it shows {got[0]}/{got[1]}")

    async def retire(self, slot: str) -> None:
        name = self.backend.name
        answer = await self.command(
            f"set server {name}/{slot} state maint; shutdown sessions server {name}/{slot}")
        if answer.strip():
            raise TrafficError(f"HAProxy refused to retire {slot}: {answer.strip()[:300]}")

    async def pause(self) -> None:
        name = self.backend.name
        answer = await self.command("; ".join(
            f"set server {name}/{s} state maint" for s in SLOTS))
        if answer.strip():
            raise TrafficError(f"HAProxy refused to pause {name}: {answer.strip()[:300]}")
        self._persist(None, paused=True)

    async def resume(self, slot: str) -> None:
        name = self.backend.name
        answer = await self.command(f"set server {name}/{slot} state ready")
        if answer.strip():
            raise TrafficError(f"HAProxy refused to resume {slot}: {answer.strip()[:300]}")
        self._persist(slot)

    async def configuration(self) -> str:
        # Keep the slot a file already routes to: rewriting must never move traffic.
        return render(self.backend, self.written_live() or "blue")

    async def close(self) -> None:
        return None

    # -- the file ----------------------------------------------------------------------

    def written_live(self) -> str | None:
        return written_live(self.config_path)

    def _persist(self, live: str | None, *, paused: bool = False) -> None:
        write_atomically(self.config_path, render(self.backend, live, paused=paused))


def _away(socket: Path, what: str) -> ProxyUnavailableError:
    return ProxyUnavailableError(f"HAProxy's runtime API at {socket} {what}",
                                 field="CHATOPS_HAPROXY_SOCKET")


async def runtime_command(socket: Path, line: str) -> str:
    """Send one command line to HAProxy's runtime API (``;`` between commands) and read
    the whole answer."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(str(socket)), TIMEOUT)
    except (OSError, TimeoutError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "timed out"
        raise _away(socket, f"(CHATOPS_HAPROXY_SOCKET) does not answer: {why}") from None
    try:
        writer.write(line.encode() + b"\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise _away(socket, f"stopped answering during {line.split(';', maxsplit=1)[0]!r}: "
                    f"{type(exc).__name__}") from None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return data.decode("utf-8", "replace")


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` in one rename, so a reader never sees half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise TrafficError(f"cannot write {path}: {exc.strerror}") from None


def _serving(status: str) -> bool:
    return not status.startswith(("MAINT", "DRAIN"))


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _build(backend: Backend, settings: Settings) -> HAProxy:
    if settings.haproxy_socket is None:
        raise ConfigError(
            "CHATOPS_HAPROXY_SOCKET is not set: the path of HAProxy's runtime API socket "
            "('stats socket PATH mode 600 level admin' in its global section)",
            field="CHATOPS_HAPROXY_SOCKET")
    if settings.haproxy_config is None:
        raise ConfigError(
            "CHATOPS_HAPROXY_CONFIG is not set: the directory of the files chatops writes "
            "for HAProxy (load it with 'haproxy -f haproxy.cfg -f DIR')",
            field="CHATOPS_HAPROXY_CONFIG")
    return HAProxy(backend, settings.haproxy_socket, settings.haproxy_config)


KIND = register(DriverKind(
    "haproxy", _build,
    loaded="reload HAProxy once to load it (switches after that need no reload)",
    describe="HAProxy runtime API: new slot 'ready', old slot 'drain' in one command, "
    "confirmed by 'show stat', then the backend file rewritten (no reload)"))
