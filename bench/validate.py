"""Benchmark: ``chatops validate`` against the seed's validator and check-jsonschema.

Prints medians of several alternating runs and the ratios the foundation issue names:
- 1,000 mixed files (a third with three documents): chatops at most 0.30 s wall, where the
  seed's validator took 0.45 s (so at most 0.67x the seed, measured side by side); the
  speed issue asks for at most 0.45x;
- 1,000 single-document files: chatops at least 3x faster than check-jsonschema;
- ``chatops --version`` cold start at most 100 ms.

Usage: .venv/bin/python bench/validate.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_intents import generate

BIN = Path(sys.executable).parent


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({done.returncode}): {done.stderr.decode()[:400]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    chatops = str(BIN / "chatops")
    cjs = shutil.which("check-jsonschema", path=str(BIN)) or shutil.which("check-jsonschema")
    if cjs is None:
        raise SystemExit("check-jsonschema is not installed (scripts/bootstrap.sh --test)")

    with tempfile.TemporaryDirectory(prefix="chatops-bench-") as tmp:
        work = Path(tmp)
        mixed_docs = generate(work / "mixed", 1000, multi_every=3)
        generate(work / "single", 1000, multi_every=0)
        schema = work / "schema.json"
        schema.write_text(subprocess.run([chatops, "schema"], capture_output=True, text=True,
                                         check=True).stdout)
        singles = sorted(str(p) for p in (work / "single").glob("*.yaml"))
        seed = [sys.executable, str(Path(__file__).parent / "seed_validator.py")]
        cases: dict[str, list[str]] = {
            "chatops validate, mixed": [chatops, "validate", str(work / "mixed")],
            "seed validator, mixed": [*seed, str(work / "mixed")],
            "chatops validate, single": [chatops, "validate", str(work / "single")],
            "check-jsonschema, single": [cjs, "--schemafile", str(schema), *singles],
            "seed validator, single": [*seed, str(work / "single")],
            "chatops --version": [chatops, "--version"],
            "python -c pass": [sys.executable, "-c", "pass"],
        }
        for argv in cases.values():  # warm the page cache and .pyc files
            wall(argv)
        times: dict[str, list[float]] = {k: [] for k in cases}
        for r in range(args.rounds):
            order = list(cases) if r % 2 == 0 else list(reversed(cases))
            for name in order:
                times[name].append(wall(cases[name]))

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"1,000 files each; mixed = {mixed_docs} documents; median of {args.rounds} "
          "alternating runs, wall time, process start included\n")
    width = max(map(len, med))
    for name, value in med.items():
        spread = f"(min {min(times[name]):.3f}, max {max(times[name]):.3f})"
        print(f"  {name:<{width}}  {value:7.3f} s  {spread}")
    print()
    mixed_ratio = med["chatops validate, mixed"] / med["seed validator, mixed"]
    scaled_target = 0.30 / 0.45 * med["seed validator, mixed"]
    cjs_ratio = med["check-jsonschema, single"] / med["chatops validate, single"]
    version_ms = med["chatops --version"] * 1000
    rows = [
        ("mixed: chatops / seed validator", f"{mixed_ratio:.2f}x", "<= 0.67x (0.30 s vs 0.45 s)",
         mixed_ratio <= 0.30 / 0.45),
        ("mixed: chatops wall", f"{med['chatops validate, mixed']:.3f} s",
         f"<= 0.30 s where the seed takes 0.45 s; here {scaled_target:.3f} s",
         med["chatops validate, mixed"] <= max(0.30, scaled_target)),
        ("mixed: chatops / seed (speed issue)", f"{mixed_ratio:.2f}x", "<= 0.45x",
         mixed_ratio <= 0.45),
        ("single: check-jsonschema / chatops", f"{cjs_ratio:.2f}x", ">= 3x", cjs_ratio >= 3.0),
        ("chatops --version cold start", f"{version_ms:.0f} ms", "<= 100 ms", version_ms <= 100),
    ]
    for label, figure, target, ok in rows:
        print(f"  {label:<36} {figure:>10}   target {target:<46} {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
