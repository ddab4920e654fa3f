"""Previews behind HAProxy: one frontend on ``CHATOPS_PREVIEW_LISTEN`` picks the backend
from a map of ``Host`` names, and one backend per port of the preview range exists from
the start. So a new preview needs no reload: its names go into the map through the
runtime API (``add map``), confirmed by ``show map``, and into the map file, so that a
restarted HAProxy routes the same. Unknown names get a 404."""

from __future__ import annotations

from pathlib import Path

from chatops.errors import ConfigError, TrafficError
from chatops.previews.routes import RouterKind, backend, listen_of, register
from chatops.settings import Settings
from chatops.traffic.haproxy import runtime_command, write_atomically

NAME = "chatops_previews"


def render(listen: str, ports: range, map_path: Path) -> str:
    lines = [
        "# Written by chatops for previews (chatops previews config --write): HAProxy",
        "# loads it once; previews come and go through its runtime API, with no reload.",
        "",
        f"frontend {NAME}",
        f"    bind {listen}",
        "    mode http",
        "    timeout client 60s",
        "    timeout http-request 10s",
        f"    http-request set-var(txn.preview) req.hdr(host),lower,field(1,:),map({map_path})",
        "    http-request return status 404 content-type text/plain string 'no preview "
        "answers at this name' unless { var(txn.preview) -m found }",
        "    use_backend %[var(txn.preview)]",
    ]
    for port in ports:
        lines += ["", f"backend {backend(port)}", "    mode http", "    timeout connect 2s",
                  "    timeout server 60s", f"    server preview 127.0.0.1:{port}"]
    return "\n".join(lines) + "\n"


class HAProxyRoutes:
    name = "haproxy"

    def __init__(self, socket: Path, config_dir: Path, listen: str, ports: range) -> None:
        self.socket = socket
        self.config_dir = config_dir
        self.listen = listen
        self.ports = ports

    @property
    def map_path(self) -> Path:
        return self.config_dir / f"{NAME}.map"

    def configuration(self) -> list[tuple[str, str]]:
        try:
            routes = self.map_path.read_text()
        except OSError:
            routes = ""  # HAProxy refuses to start without the file: an empty one
        return [(str(self.config_dir / f"{NAME}.cfg"),
                 render(self.listen, self.ports, self.map_path)),
                (str(self.map_path), routes)]

    async def _routes(self) -> dict[str, str]:
        answer = await runtime_command(self.socket, f"show map {self.map_path}")
        if "nknown map" in answer or "not found" in answer.lower():
            raise TrafficError(f"HAProxy at {self.socket} has no preview map "
                               f"{self.map_path}: write it with 'chatops previews config "
                               "--write' and reload HAProxy once",
                               field="CHATOPS_PREVIEW_PROXY")
        found: dict[str, str] = {}
        for line in answer.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0].startswith("0x"):
                found[parts[1]] = parts[2]
        return found

    async def check(self) -> None:
        await self._routes()

    async def add(self, hosts: tuple[str, ...], port: int) -> None:
        await self._change(hosts, backend(port))

    async def remove(self, hosts: tuple[str, ...], port: int) -> None:
        await self._change(hosts, None)

    async def _change(self, hosts: tuple[str, ...], to: str | None) -> None:
        current = await self._routes()
        commands = [f"del map {self.map_path} {h}" for h in hosts if h in current]
        if to is not None:
            commands += [f"add map {self.map_path} {h} {to}" for h in hosts]
        if commands:
            answer = await runtime_command(self.socket, "; ".join(commands))
            if answer.strip():
                raise TrafficError(f"HAProxy refused the preview's route: "
                                   f"{answer.strip()[:300]}")
        now = await self._routes()
        wrong = [h for h in hosts if now.get(h) != to]
        if wrong:
            raise TrafficError(f"HAProxy does not route {', '.join(wrong)} as asked")
        write_atomically(self.map_path, "".join(f"{h} {b}\n" for h, b in sorted(now.items())))

    async def close(self) -> None:
        return None


def _build(settings: Settings) -> HAProxyRoutes:
    if settings.haproxy_socket is None or settings.haproxy_config is None:
        raise ConfigError("previews behind HAProxy need CHATOPS_HAPROXY_SOCKET and "
                          "CHATOPS_HAPROXY_CONFIG", field="CHATOPS_HAPROXY_SOCKET")
    return HAProxyRoutes(settings.haproxy_socket, settings.haproxy_config,
                         listen_of(settings), settings.preview_port_range)


KIND = register(RouterKind(
    "haproxy", _build, setup="write the preview frontend and its backends once ('chatops "
    "previews config --write') and reload HAProxy; previews then come and go with no "
    "reload"))
