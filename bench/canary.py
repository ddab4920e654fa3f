"""Benchmark: canary releases behind HAProxy under constant load.

Needs scripts/harness.sh (engine, Compose, registry, HAProxy, the demo images). Uses the
stacks, load and proxy of bench/bluegreen.py. Prints, in one run:

1. failed requests during good canaries (20% for 3 s, 50% for 3 s, then 100%): target 0;
2. for a bad version (``flaky``: its health URL answers 500 to one request in five) at
   20% with a 2 s analysis window: the requests it answered before traffic left it,
   against its bound (weight x the requests of one window + 5%), and the time from its
   first bad answer (seen by a client) to weight 0 (target: the window + 1 s).
   Medians of ``--bad`` runs.

Usage: .venv/bin/python bench/canary.py [--good 3] [--bad 5] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path

import bluegreen as bgb

WINDOW = 2.0
WEIGHT = 20


def write_canary(stack: bgb.Stack, steps: str, interval: float) -> None:
    stack.intent()  # afresh, then made a canary
    web = stack.root / "chatops" / "intents" / "web.yaml"
    text = web.read_text().replace("strategy: blue-green", "strategy: canary")
    web.write_text(text + textwrap.dedent(f"""\
        canary:
          steps: {steps}
          interval: {interval}s
          min_requests: 20
          max_error_rate: 0.05
        """))


async def slot_answers(stack: bgb.Stack, slot: str) -> int:
    from chatops.traffic.base import Backend
    from chatops.traffic.haproxy import HAProxy

    backend = Backend(stack.name, "web", f"127.0.0.1:{stack.listen}",
                      {"blue": ("127.0.0.1", stack.blue), "green": ("127.0.0.1", stack.green)})
    proxy = HAProxy(backend, Path(stack.env["CHATOPS_HAPROXY_SOCKET"]),
                    Path(stack.env["CHATOPS_HAPROXY_CONFIG"]))
    counters = await proxy.counters()
    return counters.slots[slot].requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--good", type=int, default=3)
    parser.add_argument("--bad", type=int, default=5)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the test helpers
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CHATOPS_")}
    base_env["CHATOPS_STABILITY_WINDOW"] = "1s"
    good_failed, good_ok, bad_rows = 0, 0, []
    with tempfile.TemporaryDirectory(prefix="chatops-bench-canary-") as tmp:
        work = Path(tmp)
        env = dict(base_env, CHATOPS_STATE_DIR=str(work / "state"))
        stack = bgb.Stack(work / "repo", f"bench-canary-{os.getpid()}", "haproxy", env)
        stack.write("v1")
        stack.intent()
        try:
            with bgb.proxy("haproxy", work / "proxy", stack):
                stack.run()
                # 1. good canaries under load
                write_canary(stack, "[{weight: 20, pause: 3s}, {weight: 50, pause: 3s}, "
                             "{weight: 100}]", 1.0)
                print(f"... {args.good} good canaries", file=sys.stderr, flush=True)
                with bgb.Load(stack.port, args.clients) as load:
                    time.sleep(0.5)
                    for i in range(args.good):
                        stack.write("v2" if i % 2 == 0 else "v1")
                        stack.run()
                    time.sleep(0.5)
                good_failed, good_ok = load.failed, load.ok
                # 2. a bad version, stopped by the analysis
                write_canary(stack, f"[{{weight: {WEIGHT}, pause: 60s}}, {{weight: 100}}]",
                             WINDOW)
                print(f"... {args.bad} bad canaries", file=sys.stderr, flush=True)
                for _ in range(args.bad):
                    bad_rows.append(one_bad(stack, args.clients))
        finally:
            stack.down()
    answered = [r["answered"] for r in bad_rows]
    bounds = [r["bound"] for r in bad_rows]
    stops = [r["stop"] for r in bad_rows]
    ratios = [a / b for a, b in zip(answered, bounds, strict=True)]
    print(f"\ncanary benchmark behind HAProxy, {args.clients} clients (half keep-alive; "
          "GET and POST; no retries)\n")
    print(f"good canaries (20% 3s, 50% 3s, 100%), {args.good} in a row: "
          f"{good_failed} failed of {good_failed + good_ok} requests  (target 0)")
    print(f"bad version at {WEIGHT}%, {WINDOW:g}s window, medians of {args.bad}:")
    print(f"  requests it answered before traffic left it: {statistics.median(answered):.0f}"
          f"   bound (weight x one window's requests + 5%): {statistics.median(bounds):.0f}"
          f"   ratio {statistics.median(ratios):.2f}  (target <= 1.00)")
    print(f"  first bad answer -> weight 0: {statistics.median(stops):.2f}s"
          f"   bound (window + 1 s): {WINDOW + 1:.2f}s  (target <= bound)")
    for row in bad_rows:
        print(f"    run: answered {row['answered']}, bound {row['bound']:.0f}, "
              f"stop {row['stop']:.2f}s, rate {row['rate']:.0f} req/s")


def one_bad(stack: bgb.Stack, clients: int) -> dict[str, float]:
    stack.write("flaky")
    before = {slot: asyncio.run(slot_answers(stack, slot)) for slot in ("blue", "green")}
    with bgb.Load(stack.port, clients) as load:
        time.sleep(1.0)
        t0, n0 = time.monotonic(), load.ok + load.failed
        time.sleep(2.0)
        rate = (load.ok + load.failed - n0) / (time.monotonic() - t0)
        with contextlib.suppress(SystemExit):  # rolled back: exit code 2, as expected
            stack.chatops("run", "web", "--repo", str(stack.root), "--local")
    record = stack.last()
    traffic = dict(record["traffic"])  # type: ignore[call-overload]
    if record["status"] != "rolled_back":
        raise SystemExit(f"the bad canary was not stopped: {record['status']} "
                         f"{record.get('reason')}")
    canary_slot = str(traffic["target"])
    answered = asyncio.run(slot_answers(stack, canary_slot)) - before[canary_slot]
    stopped = datetime.fromisoformat(traffic["canary"]["stopped_at"]).timestamp()
    first = load.first_failure or stopped
    stack.write("v1")
    return {"answered": answered, "bound": WEIGHT / 100 * rate * WINDOW * 1.05,
            "stop": stopped - first, "rate": rate}


if __name__ == "__main__":
    main()
