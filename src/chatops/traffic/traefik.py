"""Traefik, for hosts that already run it: a weighted service in its watched directory.

chatops writes one file per blue-green service into the file provider's directory
(``CHATOPS_TRAEFIK_DIR``): a router on the entry point that listens on the intent's
``listen`` address, a weighted service over the two slots (the live one weight 1, the
other 0), and a maintenance service with no server (Traefik answers it 503). Files are
replaced in one rename; Traefik applies a change once its reload throttle has passed
(``providers.providersThrottleDuration``: 2 s unless set lower, as docs/strategies.md
advises), so every change is confirmed through its API (``CHATOPS_TRAEFIK_API``) before
it counts.

Traefik has no gauge of the requests open on one service: a drain is confirmed when the
old slot's request counter (``traefik_service_requests_total``) has stopped moving for
``QUIET`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

from chatops.errors import ConfigError, ProxyUnavailableError, TrafficError
from chatops.settings import Settings
from chatops.tls import async_client
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
from chatops.traffic.haproxy import write_atomically

TIMEOUT = 5.0
CONFIRM = 15.0  # Traefik applies a change after its throttle (2 s by default)
POLL = 0.05
QUIET = 1.0
_SAMPLE = re.compile(r'^(?P<name>traefik_service_(?:requests_total|request_duration_seconds'
                     r'_bucket))\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _yaml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a YAML string


def render(backend: Backend, entry_point: str, live: str | None, *,
           paused: bool = False, weights: dict[str, int] | None = None) -> str:
    """The file for ``backend``: ``live`` gets every request, or ``weights`` share them
    (a canary; the file then names the stable slot as live, for a restart)."""
    name = backend.name
    state = "paused" if paused else f"live {live or 'none'}"
    if weights is None:
        weights = {slot: 1 if slot == live and not paused else 0 for slot in SLOTS}
    lines = [
        f"# Written by chatops for stack {backend.stack}, service {backend.service} "
        f"({state}).",
        "# chatops rewrites this file on every switch: change the intent's traffic block.",
        f"# chatops: {state}",
        "http:",
        "  routers:",
        f"    {name}:",
        f"      entryPoints: [{_yaml_string(entry_point)}]",
        '      rule: "PathPrefix(`/`)"',
        f"      service: {name}_maintenance" if paused else f"      service: {name}",
        "  services:",
        f"    {name}:",
        "      weighted:",
        "        services:",
    ]
    for slot in SLOTS:
        lines += [f"          - name: {name}_{slot}",
                  f"            weight: {weights.get(slot, 0)}"]
    for slot in SLOTS:
        lines += [f"    {name}_{slot}:", "      loadBalancer:", "        servers:",
                  f"          - url: {_yaml_string('http://' + backend.address(slot))}"]
    lines += [f"    {name}_maintenance:", "      loadBalancer:", "        servers: []"]
    return "\n".join(lines) + "\n"


async def api_get(http: Any, api: str, path: str) -> Any:
    """``GET path`` of Traefik's API (``CHATOPS_TRAEFIK_API``): JSON, the text of
    ``/metrics``, or None for a 404."""
    import httpx  # noqa: PLC0415

    try:
        resp = await http.get(api + path)
    except httpx.HTTPError as exc:
        raise ProxyUnavailableError(
            f"Traefik's API at {api} (CHATOPS_TRAEFIK_API) does not answer: "
            f"{type(exc).__name__}", field="CHATOPS_TRAEFIK_API") from None
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise TrafficError(f"Traefik's API answered {resp.status_code} to GET {path}")
    return resp.text if path == "/metrics" else resp.json()


async def entry_point_at(http: Any, api: str, listen: str | None, field: str) -> str:
    """The name of Traefik's entry point on ``listen`` (the setting ``field`` names it)."""
    points = await api_get(http, api, "/api/entrypoints") or []
    found = [p["name"] for p in points if p.get("address") == listen]
    if not found:
        known = ", ".join(f"{p.get('name')} ({p.get('address')})" for p in points)
        raise TrafficError(
            f"Traefik has no entry point on {listen} ({field}); add "
            f"--entryPoints.NAME.address={listen} to its static configuration "
            f"(it has: {known or 'none'})", field=field)
    return str(found[0])


class Traefik:
    def __init__(self, backend: Backend, directory: Path, api: str) -> None:
        self.backend = backend
        self.directory = directory
        self.api = api.rstrip("/")
        self._entry_point: str | None = None
        self._seen: dict[str, tuple[float, float]] = {}  # slot -> (total, since)
        self._failed = 0
        self._http = async_client(timeout=TIMEOUT)

    @property
    def config_path(self) -> Path:
        return self.directory / f"{self.backend.name}.yml"

    async def _get(self, path: str) -> Any:
        return await api_get(self._http, self.api, path)

    async def entry_point(self) -> str:
        if self._entry_point is None:
            self._entry_point = await entry_point_at(self._http, self.api,
                                                     self.backend.listen, "traffic.listen")
        return self._entry_point

    async def _service(self) -> dict[str, Any] | None:
        data = await self._get(f"/api/http/services/{self.backend.name}@file")
        return data if isinstance(data, dict) else None

    async def _router_service(self) -> str | None:
        data = await self._get(f"/api/http/routers/{self.backend.name}@file")
        return str(data.get("service")) if isinstance(data, dict) else None

    # -- the driver ----------------------------------------------------------------------

    async def check(self) -> None:
        await self.entry_point()
        service = await self._service()
        # A file chatops wrote moments ago: Traefik loads it after its throttle.
        deadline = time.monotonic() + CONFIRM
        while service is None and self.config_path.exists() and time.monotonic() < deadline:
            await asyncio.sleep(POLL * 4)
            service = await self._service()
        if service is None:
            raise TrafficError(
                f"Traefik has no service {self.backend.name}@file; write it with 'chatops "
                f"traffic config INTENT --write' (into {self.directory}, which Traefik's "
                "file provider must watch)", field="traffic")

    async def routing(self) -> Routing:
        service = await self._service()
        router = await self._router_service()
        if service is None or router is None or router.endswith("_maintenance"):
            return Routing(None, (), paused=True)
        weights = {s["name"]: int(s.get("weight", 1))
                   for s in (service.get("weighted") or {}).get("services") or []}
        ready = tuple(slot for slot in SLOTS
                      if weights.get(f"{self.backend.name}_{slot}", 0) > 0)
        if not ready:
            return Routing(None, (), paused=True)
        return Routing(ready[0], ready)

    async def _apply(self, live: str | None, *, paused: bool = False,
                     weights: dict[str, int] | None = None) -> None:
        write_atomically(self.config_path, render(
            self.backend, await self.entry_point(), live, paused=paused, weights=weights))
        shares = weights if weights is not None else {s: int(s == live) for s in SLOTS}
        want = tuple(s for s in SLOTS if shares.get(s, 0) > 0)
        deadline = time.monotonic() + CONFIRM
        while True:
            routing = await self.routing()
            if routing.paused == paused and (paused or routing.ready == want) and (
                    weights is None or await self._weights() == weights):
                return
            if time.monotonic() > deadline:
                raise TrafficError(
                    f"Traefik did not apply {self.config_path.name} within {CONFIRM:g}s "
                    f"(its API still shows live {routing.live or 'none'}); check its log")
            await asyncio.sleep(POLL)

    async def _weights(self) -> dict[str, int]:
        service = await self._service() or {}
        found = {s["name"]: int(s.get("weight", 1))
                 for s in (service.get("weighted") or {}).get("services") or []}
        return {slot: found.get(f"{self.backend.name}_{slot}", 0) for slot in SLOTS}

    async def weigh(self, canary: str, weight: int) -> None:
        stable = other(canary)
        await self._apply(stable, weights={canary: weight, stable: 100 - weight})

    async def switch(self, to: str) -> None:
        await self._apply(to)
        now = time.monotonic()
        totals = await self._totals()
        self._seen = {slot: (totals.get(slot, 0.0), now) for slot in SLOTS}

    async def _totals(self) -> dict[str, float]:
        totals, _ = await self._read_metrics()
        return totals

    async def _read_metrics(self) -> tuple[dict[str, float], dict[str, SlotCounters]]:
        """Requests by slot, and each slot's errors and latency histogram."""
        text = str(await self._get("/metrics") or "")
        totals: dict[str, float] = {}
        errors: dict[str, float] = {}
        buckets: dict[str, dict[float, float]] = {}
        self._failed = 0
        for line in text.splitlines():
            match = _SAMPLE.match(line)
            if not match:
                continue
            labels = dict(_LABEL.findall(match["labels"]))
            service = labels.get("service", "").removesuffix("@file")
            slot = next((x for x in SLOTS if service == f"{self.backend.name}_{x}"), None)
            if slot is None:
                continue
            value = float(match["value"])
            if match["name"] == "traefik_service_requests_total":
                totals[slot] = totals.get(slot, 0.0) + value
                if labels.get("code", "").startswith("5"):
                    errors[slot] = errors.get(slot, 0.0) + value
                    self._failed += int(value)
            elif match["name"] == "traefik_service_request_duration_seconds_bucket":
                le = float("inf") if labels.get("le") == "+Inf" else float(labels["le"])
                per = buckets.setdefault(slot, {})
                per[le] = per.get(le, 0.0) + value
        slots = {slot: SlotCounters(
            requests=int(totals.get(slot, 0)), errors=int(errors.get(slot, 0)),
            buckets=tuple(sorted(buckets.get(slot, {}).items())))
            for slot in SLOTS}
        return totals, slots

    async def counters(self) -> Counters:
        totals, slots = await self._read_metrics()
        now = time.monotonic()
        open_: dict[str, int] = {}
        for slot in SLOTS:
            total = totals.get(slot, 0.0)
            seen, since = self._seen.get(slot, (total, now))
            if total != seen:
                self._seen[slot] = (total, now)
                since = now
            # Still moving within the quiet period: count it as open.
            open_[slot] = 1 if now - since < QUIET and slot in self._seen else 0
        return Counters(open=open_, failed=self._failed, requests=int(sum(totals.values())),
                        slots=slots)

    async def retire(self, slot: str) -> None:
        return None  # weight 0 since the switch; nothing else reaches it

    async def pause(self) -> None:
        await self._apply(None, paused=True)

    async def resume(self, slot: str) -> None:
        await self._apply(slot)

    async def configuration(self) -> str:
        return render(self.backend, await self.entry_point(), self.written_live() or "blue")

    def written_live(self) -> str | None:
        return written_live(self.config_path)

    async def close(self) -> None:
        await self._http.aclose()


def _build(backend: Backend, settings: Settings) -> Traefik:
    if settings.traefik_dir is None:
        raise ConfigError("CHATOPS_TRAEFIK_DIR is not set: the directory Traefik's file "
                          "provider watches (--providers.file.directory)",
                          field="CHATOPS_TRAEFIK_DIR")
    if settings.traefik_api is None:
        raise ConfigError("CHATOPS_TRAEFIK_API is not set: the URL of Traefik's API "
                          "(--api), such as http://127.0.0.1:8081", field="CHATOPS_TRAEFIK_API")
    return Traefik(backend, settings.traefik_dir, settings.traefik_api)


KIND = register(DriverKind(
    "traefik", _build, loaded="Traefik loads it by itself",
    describe="Traefik file provider: the weighted service rewritten in one rename (new slot "
    "weight 1, old slot 0), confirmed through Traefik's API"))
