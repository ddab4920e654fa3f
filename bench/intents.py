"""A thousand intents served: ``GET /intents`` answered from what was read once against
reading every file again (what it did before), side by side in one run.

    python bench/intents.py [--count 1000] [--calls 25]

Prints, medians of ``--calls`` requests each (after one to warm up):
  GET /intents, the folder unchanged: the answer kept since it was last read (target
    <= 30 ms), beside the same request just after every file's time was touched (each
    file parsed again: the cost of reading them all, the baseline);
  the same after one file changed (only that file is read again);
  a dry run of one intent (target <= 3 ms);
and the service's start to ready with that many intents, median of ``--starts``
(target <= 0.8 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from gen_intents import generate
from loopback import allow_loopback

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import served  # noqa: E402


def timed(call: object, n: int) -> float:
    times = []
    for _ in range(n):
        began = time.perf_counter()
        call()  # type: ignore[operator]
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def start_several(repo: Path, state: Path, count: int) -> tuple[served.Service, list[float]]:
    """Start the service ``count`` times, timing each start to ready; the last one is
    left running."""
    starts: list[float] = []
    while True:
        began = time.perf_counter()
        service = served.start(repo, state, env={"APPROVED_LABEL": "approved-by-gemini",
                                                 "CHATOPS_RATE_PER_KEY": "100000",
                                                 "CHATOPS_BURST_PER_KEY": "100000"})
        starts.append(time.perf_counter() - began)
        if len(starts) >= count:
            return service, starts
        service.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=25)
    parser.add_argument("--starts", type=int, default=5, help="starts measured (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chatops-bench-intents-") as tmp:
        repo = Path(tmp) / "repo"
        docs = generate(repo / "chatops" / "intents", args.count)
        allow_loopback(repo)
        service, starts = start_several(repo, Path(tmp) / "state", args.starts)
        ready = statistics.median(starts)
        try:
            client = httpx.Client(base_url=service.url, headers={"X-API-Key": served.KEY},
                                  timeout=60)

            def listing() -> None:
                resp = client.get("/intents")
                if resp.status_code != 200 or len(resp.json()["intents"]) != args.count:
                    raise SystemExit(f"GET /intents answered {resp.status_code}: {resp.text}")

            files = sorted((repo / "chatops" / "intents").glob("*.yaml"))

            def touch_all_then_list() -> None:
                now = time.time_ns()
                for path in files:
                    os.utime(path, ns=(now, now))
                listing()

            listing()
            kept = timed(listing, args.calls)
            # Touching a thousand files costs time too: measured alone, and taken out.
            touch = timed(lambda: [os.utime(p) for p in files], 5)
            reread = timed(touch_all_then_list, max(5, args.calls // 5)) - touch

            def one_changed() -> None:
                os.utime(files[0])
                listing()

            one = timed(one_changed, args.calls)
            name = files[1].stem

            def dry_run() -> None:
                resp = client.post("/run", json={"name": name, "dry_run": True})
                if resp.status_code != 200:
                    raise SystemExit(f"the dry run answered {resp.status_code}: {resp.text}")

            dry_run()
            dry = timed(dry_run, args.calls)
        finally:
            service.stop()
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    print(f"{args.count} intent files ({docs} documents), medians of {args.calls} calls\n")
    print(f"  GET /intents, folder unchanged (kept)       {kept * 1000:8.1f} ms  "
          f"(target <= 30 ms: {verdict(kept <= 0.030)})")
    print(f"  GET /intents, every file read again          {reread * 1000:8.1f} ms  "
          f"(the baseline)   ratio {kept / reread:.3f}")
    print(f"  GET /intents, one file changed               {one * 1000:8.1f} ms")
    print(f"  POST /run dry run of one intent              {dry * 1000:8.1f} ms  "
          f"(target <= 3 ms: {verdict(dry <= 0.003)})")
    print(f"  chatops serve start to ready                 {ready:8.2f} s   "
          f"(target <= 0.8 s: {verdict(ready <= 0.8)}; median of {len(starts)}, "
          f"{min(starts):.2f}-{max(starts):.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
