"""Nginx Proxy Manager: the switch the seed names, through NPM's REST API.

A switch is ``PUT /api/nginx/proxy-hosts/{id}`` with the new slot's ``forward_host`` and
``forward_port``; NPM rewrites the host's nginx configuration and reloads nginx. NPM
answers 200 even when that configuration failed, so ``meta.nginx_online`` and
``meta.nginx_err`` are read, and the change is confirmed with a ``GET``. Pausing adds a
``return 503`` to the host's advanced configuration.

NPM keeps no per-upstream counters: an nginx reload lets the old workers finish their open
requests, which chatops cannot see, and it cannot count failed requests either (the
benchmark counts them from the clients). NPM cannot weight traffic (no canary).
"""

from __future__ import annotations

from typing import Any

from chatops.errors import ConfigError, ProxyUnavailableError, TrafficError
from chatops.settings import Settings
from chatops.tls import async_client
from chatops.traffic.base import Backend, Counters, DriverKind, Routing, register

TIMEOUT = 10.0
PAUSED = "# chatops: paused"


def nginx_text(text: str) -> str:
    """``text`` inside an nginx double-quoted string: nginx has no escape for ``$`` (it
    would name a variable, and an unknown one fails the whole configuration), so ``$``,
    quotes, backslashes and control characters are left out."""
    return "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in text
                   if ch not in '$"\\')


class NginxProxyManager:
    def __init__(self, backend: Backend, url: str, email: str, password: str) -> None:

        self.backend = backend
        self.url = url.rstrip("/")
        self._email, self._password = email, password
        self._token: str | None = None
        self._http = async_client(timeout=TIMEOUT)
        if backend.proxy_host is None:  # the intent model requires it for npm
            raise ConfigError("traffic.proxy_host is needed for npm", field="traffic.proxy_host")
        self.host_id = backend.proxy_host

    config_path = None

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None
                       ) -> Any:
        import httpx  # noqa: PLC0415

        headers = {}
        if path != "/api/tokens":
            headers["Authorization"] = f"Bearer {await self._login()}"
        try:
            resp = await self._http.request(method, self.url + path, json=body,
                                            headers=headers)
        except httpx.HTTPError as exc:
            raise ProxyUnavailableError(
                f"Nginx Proxy Manager at {self.url} (CHATOPS_NPM_URL) does not answer: "
                f"{type(exc).__name__}", field="CHATOPS_NPM_URL") from None
        if path == "/api/tokens" and resp.status_code in (400, 401, 403):
            raise TrafficError("Nginx Proxy Manager refused the credentials in "
                               "CHATOPS_NPM_EMAIL and CHATOPS_NPM_PASSWORD",
                               field="CHATOPS_NPM_PASSWORD")
        if resp.status_code == 404:
            raise TrafficError(f"Nginx Proxy Manager has no proxy host {self.host_id} "
                               "(traffic.proxy_host)", field="traffic.proxy_host")
        if resp.status_code != 200:
            raise TrafficError(f"Nginx Proxy Manager answered {resp.status_code} to "
                               f"{method} {path}")
        return resp.json()

    async def _login(self) -> str:
        if self._token is None:
            answer = await self._request("POST", "/api/tokens", {
                "identity": self._email, "secret": self._password})
            self._token = str(answer["token"])
        return self._token

    async def _host(self) -> dict[str, Any]:
        host = await self._request("GET", f"/api/nginx/proxy-hosts/{self.host_id}")
        return dict(host)

    async def _put(self, changes: dict[str, Any]) -> dict[str, Any]:
        host = dict(await self._request("PUT", f"/api/nginx/proxy-hosts/{self.host_id}",
                                        changes))
        meta = host.get("meta") or {}
        if meta.get("nginx_online") is False or meta.get("nginx_err"):
            raise TrafficError(f"Nginx Proxy Manager could not apply the change (nginx: "
                               f"{str(meta.get('nginx_err') or 'offline')[:300]})")
        return host

    # -- the driver ----------------------------------------------------------------------

    async def check(self) -> None:
        await self._host()

    async def routing(self) -> Routing:
        host = await self._host()
        if PAUSED in str(host.get("advanced_config") or ""):
            return Routing(None, (), paused=True)
        slot = self.backend.slot_at(str(host.get("forward_host")),
                                    int(host.get("forward_port") or 0))
        return Routing(slot, (slot,) if slot else ())

    async def switch(self, to: str) -> None:
        host, port = self.backend.upstreams[to]
        await self._put({"forward_host": host, "forward_port": port})
        routing = await self.routing()
        if routing.live != to:
            raise TrafficError(f"Nginx Proxy Manager did not confirm the switch to {to} "
                               f"(it forwards to {routing.live or 'another address'})")

    async def counters(self) -> Counters:
        return Counters(open={}, failed=None)

    async def weigh(self, canary: str, weight: int) -> None:
        raise TrafficError("Nginx Proxy Manager cannot weight traffic between two slots "
                           "(a canary needs haproxy or traefik)", field="traffic.driver")

    async def retire(self, slot: str) -> None:
        return None

    async def pause(self) -> None:
        host = await self._host()
        kept = _without_pause(str(host.get("advanced_config") or ""))
        message = nginx_text(self.backend.message)
        await self._put({"advanced_config": f'{kept}{PAUSED}\nreturn 503 "{message}";\n'})

    async def resume(self, slot: str) -> None:
        host = await self._host()
        addr, port = self.backend.upstreams[slot]
        await self._put({"advanced_config": _without_pause(
            str(host.get("advanced_config") or "")), "forward_host": addr,
            "forward_port": port})

    async def configuration(self) -> str | None:
        return None

    async def close(self) -> None:
        await self._http.aclose()


def _without_pause(text: str) -> str:
    lines = text.splitlines(keepends=True)
    out, skip = [], False
    for line in lines:
        if line.strip() == PAUSED:
            skip = True
            continue
        if skip and line.strip().startswith("return 503"):
            skip = False
            continue
        out.append(line)
    return "".join(out)


def _build(backend: Backend, settings: Settings) -> NginxProxyManager:
    missing = [name for name, value in (("CHATOPS_NPM_URL", settings.npm_url),
                                        ("CHATOPS_NPM_EMAIL", settings.npm_email),
                                        ("CHATOPS_NPM_PASSWORD", settings.npm_password))
               if not value]
    if missing:
        raise ConfigError(f"{', '.join(missing)} not set: Nginx Proxy Manager's URL and "
                          "the email and password of a user who may edit proxy hosts",
                          field=missing[0])
    assert settings.npm_url is not None  # noqa: S101 - checked above
    assert settings.npm_email is not None  # noqa: S101
    assert settings.npm_password is not None  # noqa: S101
    return NginxProxyManager(backend, settings.npm_url, settings.npm_email,
                             settings.npm_password.get_secret_value())


KIND = register(DriverKind(
    "npm", _build,
    describe="Nginx Proxy Manager API: the proxy host's forward_host and forward_port "
    "changed (PUT), its nginx_online/nginx_err read, confirmed with a GET (nginx reloads)"))
