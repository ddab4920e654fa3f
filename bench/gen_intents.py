"""Generate seed-shaped intent files for the benchmarks (deterministic)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

SERVICES = ["plex", "sonarr", "radarr", "prowlarr", "transmission", "uptime-kuma", "whoami"]


def doc(rng: random.Random, i: int, j: int) -> str:
    stack = f"stack-{rng.choice(['media', 'home', 'monitoring', 'dev'])}-{i % 50}"
    service = rng.choice(SERVICES)
    return (
        "label_required: approved-by-gemini\n"
        "action: rollout\n"
        f"stack: {stack}\n"
        f"service: {service}\n"
        f'compose: "/opt/stacks/{stack}/docker-compose.yml"\n'
    )


def header(i: int) -> str:
    return (
        f"# Rollout {i} - generated for benchmarks\n"
        "# Purpose: Deploy a new image with fixes\n"
        "# Post-deploy: Verify the service responds\n\n"
    )


def generate(folder: Path, count: int = 1000, multi_every: int = 3) -> int:
    """Write ``count`` files; every ``multi_every``-th has three documents. Returns docs."""
    rng = random.Random(42)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.yaml"):
        old.unlink()
    docs = 0
    for i in range(count):
        n = 3 if multi_every and i % multi_every == 0 else 1
        body = header(i) + "---\n".join(doc(rng, i, j) for j in range(n))
        (folder / f"rollout_{i:04d}.yaml").write_text(body)
        docs += n
    return docs


if __name__ == "__main__":
    print(generate(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1000))
