"""Previews per pull request, measured on the real engine behind a real HAProxy.

Prints, side by side in one run (medians of several):
- labelled pull-request webhook → the preview answering through the proxy, against a
  plain ``docker compose up -d --wait`` of the same stack until it answers (target ≤1.3x);
- 20 previews at once: the service's RSS and the time of one drift pass with them;
- teardown of one preview: the closing webhook → every container, volume, network and
  route gone (target ≤2 s).

Run: ``.venv/bin/python bench/preview.py`` (the harness's engine and registry up)."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.docker.conftest import Images, demo_compose, docker, free_port
from tests.docker.test_previews import DOMAIN, Setup

RUNS = 5


def until(check, deadline: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise SystemExit("timed out")
        time.sleep(0.02)


def answers(url: str, host: str | None = None) -> bool:
    import httpx

    try:
        return httpx.get(url, headers={"Host": host} if host else {}, timeout=1
                         ).status_code == 200
    except httpx.HTTPError:
        return False


def plain_up(tmp: Path, image: str) -> float:
    port = free_port()
    file = tmp / f"plain-{port}" / "docker-compose.yml"
    file.parent.mkdir(parents=True)
    file.write_text(demo_compose(image, port))
    start = time.monotonic()
    docker("compose", "-p", f"plain{port}", "-f", str(file), "up", "-d", "--wait")
    until(lambda: answers(f"http://127.0.0.1:{port}/version"))
    took = time.monotonic() - start
    docker("compose", "-p", f"plain{port}", "-f", str(file), "down", "-v", "-t", "1")
    return took


def main() -> None:
    images = Images()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        s = Setup(tmp, images, "haproxy", ports=30, most=25)
        try:
            plain = [plain_up(tmp, s.v2) for _ in range(RUNS)]
            head = s.push_branch(s.compose(s.v2))
            up, down = [], []
            for number in range(1, RUNS + 1):
                s.label(number)
                start = time.monotonic()
                s.event("opened", number, head)
                until(lambda n=number: answers(f"http://127.0.0.1:{s.listen}/version",
                                               f"pr-{n}.{DOMAIN}"))
                up.append(time.monotonic() - start)
                start = time.monotonic()
                s.event("closed", number, head)
                until(lambda n=number: not any(p["number"] == n for p in s.previews())
                      and s.traces(f"{s.stack}-pr-{n}")["containers"] == 0)
                down.append(time.monotonic() - start)
            rss_before = s.service.rss_kib()
            many = range(10, 30)
            for number in many:
                s.label(number)
                s.event("opened", number, head)
            until(lambda: len([p for p in s.previews() if p["state"] == "up"]) == len(many),
                  600)
            rss = s.service.rss_kib()
            drift = []
            for _ in range(RUNS):
                start = time.monotonic()
                if s.service.get("/drift").status_code != 200:
                    raise SystemExit("GET /drift failed")
                drift.append(time.monotonic() - start)
            for number in many:
                s.event("closed", number, head)
            until(lambda: not s.previews(), 600)
        finally:
            s.close()
            images.cleanup()
    p, u, d = statistics.median(plain), statistics.median(up), statistics.median(down)
    print(f"webhook → preview answering through HAProxy: {u:.2f} s; plain docker compose "
          f"up --wait → answering: {p:.2f} s; ratio {u / p:.2f}x (target ≤1.3x)")
    print(f"20 previews at once: service RSS {rss / 1024:.0f} MiB (with none: "
          f"{rss_before / 1024:.0f} MiB); drift pass {statistics.median(drift) * 1000:.0f} ms")
    print(f"teardown of one preview (closing webhook → every trace gone): {d:.2f} s "
          "(target ≤2 s)")


if __name__ == "__main__":
    main()
