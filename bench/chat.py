"""Benchmark: how fast chatops acknowledges chat commands under load.

Starts ``chatops serve`` (its own state, a throwaway repository, no engine: deploys are
accepted, then fail) with a generated Discord key, and sends rounds of 20 concurrent
signed interactions (deploy, status, runs and plan, mixed). Prints the acknowledgement
time's p50 and p99 (Discord allows 3 s; target p99 <= 300 ms), beside the same
concurrency against ``GET /healthz`` (the HTTP stack's own floor).

Usage: .venv/bin/python bench/chat.py [--rounds 10] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

APP_ID = "123456789012345678"


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def rounds(url: str, key: Ed25519PrivateKey, count: int, concurrency: int,
                 health: bool) -> list[float]:
    names = ["deploy", "status", "runs", "plan"]
    times: list[float] = []
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(
            max_connections=concurrency)) as client:

        async def one(i: int) -> None:
            start = time.perf_counter()
            if health:
                resp = await client.get(url + "/healthz")
            else:
                name = names[i % len(names)]
                options = [{"name": "intent", "value": "deploy_web"}] \
                    if name in ("deploy", "plan") else []
                body = json.dumps({"type": 2, "token": f"t{i}", "application_id": APP_ID,
                                   "member": {"user": {"id": "111"}, "roles": []},
                                   "data": {"name": name, "options": options}}).encode()
                stamp = str(int(time.time()))
                resp = await client.post(url + "/chat/discord", content=body, headers={
                    "content-type": "application/json",
                    "x-signature-timestamp": stamp,
                    "x-signature-ed25519": key.sign(stamp.encode() + body).hex()})
            if resp.status_code != 200:
                raise SystemExit(f"answered {resp.status_code}: {resp.text[:200]}")
            times.append(time.perf_counter() - start)

        for r in range(count):
            await asyncio.gather(*(one(r * concurrency + i) for i in range(concurrency)))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests import served
    from tests.fakes.recorder import Recorder

    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    platform = Recorder()
    with tempfile.TemporaryDirectory(prefix="chatops-bench-chat-") as tmp:
        repo = Path(tmp) / "repo"
        (repo / "chatops" / "intents").mkdir(parents=True)
        (repo / "chatops" / "intents" / "deploy_web.yaml").write_text(
            "label_required: approved\naction: pull\nstack: web\n")
        service = served.start(repo, Path(tmp) / "state", env={
            "DOCKER_HOST": "unix:///nonexistent/docker.sock",
            "CHATOPS_DISCORD_PUBLIC_KEY": public, "CHATOPS_DISCORD_APPLICATION_ID": APP_ID,
            "CHATOPS_DISCORD_API": platform.url, "CHATOPS_RATE_PER_ADDRESS": "10000",
            "CHATOPS_BURST_PER_ADDRESS": "10000",
            "CHATOPS_CHAT_IDENTITIES": json.dumps(
                {"discord:user:111": {"scopes": ["run", "read"]}})})
        try:
            asyncio.run(rounds(service.url, key, 1, args.concurrency, False))  # warm up
            chat = asyncio.run(rounds(service.url, key, args.rounds, args.concurrency, False))
            floor = asyncio.run(rounds(service.url, key, args.rounds, args.concurrency, True))
        finally:
            service.stop()
            platform.stop()
    n = len(chat)
    print(f"\nchat acknowledgement, {args.rounds} rounds of {args.concurrency} concurrent "
          f"signed Discord commands ({n} in all; deploy, status, runs, plan)\n")
    print(f"{'':32}{'commands':>12}{'GET /healthz':>16}")
    print(f"{'p50':32}{p(chat, 0.5) * 1000:>10.1f}ms{p(floor, 0.5) * 1000:>14.1f}ms")
    print(f"{'p99':32}{p(chat, 0.99) * 1000:>10.1f}ms{p(floor, 0.99) * 1000:>14.1f}ms"
          "   (target p99 <= 300 ms; Discord allows 3 s)")
    print(f"{'mean':32}{statistics.mean(chat) * 1000:>10.1f}ms"
          f"{statistics.mean(floor) * 1000:>14.1f}ms")


if __name__ == "__main__":
    main()
