"""chatops's container image, measured: its size (as ``docker images`` shows it, and
gzip-compressed as a registry stores its layers) against the 200 MB target, and the time
from ``docker run`` to ``/healthz`` answering (median of several starts) against 3 s.

Run: ``.venv/bin/python bench/image.py [IMAGE]`` (default: builds ``chatops:bench`` from
the Dockerfile on the local base: scripts/image.sh --local-base)."""

from __future__ import annotations

import gzip
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5
DEMO = ROOT / "examples" / "demo"


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"docker {args[0]}: {done.stderr.strip()[-2000:]}")
    return done.stdout.strip()


def compressed(image: str) -> int:
    """Bytes of ``docker save`` through gzip (what a pull moves, near enough)."""
    proc = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    assert proc.stdout is not None  # noqa: S101 - a pipe was asked for
    total, squeeze = 0, gzip.compress
    while chunk := proc.stdout.read(1 << 22):
        total += len(squeeze(chunk, compresslevel=6))
    proc.wait()
    return total


PARTS = {"the Docker CLI": "/usr/local/bin/docker",
         "Compose": "/usr/local/lib/docker/cli-plugins/docker-compose",
         "chatops and its Python packages": "/opt/chatops"}


def parts(image: str) -> dict[str, float]:
    """MB of each named part inside the image (the rest is the system: Python, Git, SSH)."""
    out = docker("run", "--rm", "--entrypoint", "du", image, "-sk", *PARTS.values())
    sizes = {path: int(kb) * 1024 / 1e6 for kb, path in (line.split("\t") for line in
                                                         out.splitlines())}
    return {name: sizes[path] for name, path in PARTS.items()}


def start_time(image: str) -> float:
    port = 20000 + int(uuid.uuid4().int % 20000)
    name = f"chatops-bench-{uuid.uuid4().hex[:8]}"
    start = time.monotonic()
    docker("run", "-d", "--name", name, "--network", "host", "-e", f"CHATOPS_PORT={port}",
           "-e", "CHATOPS_HOST=127.0.0.1", "-e", "CHATOPS_API_KEY=" + secrets.token_urlsafe(32),
           "-e", f"CHATOPS_REPO={DEMO}", "-v", f"{DEMO}:{DEMO}:ro", image)
    try:
        while time.monotonic() - start < 60:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                time.sleep(0.02)
        raise SystemExit("/healthz never answered")
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def main() -> None:
    image = sys.argv[1] if len(sys.argv) > 1 else "chatops:bench"
    if len(sys.argv) < 2:
        subprocess.run([str(ROOT / "scripts" / "image.sh"), "--local-base", image],
                       check=True, env={**os.environ, "PYTHON": sys.executable})
    size = int(docker("image", "inspect", "-f", "{{.Size}}", image))
    base = int(docker("image", "inspect", "-f", "{{.Size}}", "chatops-base:bookworm"))
    packed = compressed(image)
    times = [start_time(image) for _ in range(RUNS)]
    print(f"image {image}: {size / 1e6:.0f} MB as docker images shows it ({packed / 1e6:.0f} "
          f"MB gzip-compressed), against the 200 MB target: {size / 200e6:.2f}x "
          f"(the Debian base alone: {base / 1e6:.0f} MB)")
    print("  of which " + ", ".join(f"{name} {mb:.0f} MB" for name, mb in parts(image).items()))
    print(f"docker run → /healthz answering: {statistics.median(times):.2f} s (median of "
          f"{RUNS}; target 3 s: {statistics.median(times) / 3:.2f}x)")


if __name__ == "__main__":
    main()
