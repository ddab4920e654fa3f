#!/usr/bin/env bash
# Installs everything the tests need (Python tools, Docker engine, Compose v2, a local
# registry, test images) and runs them all: ruff, mypy, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --test
export PATH="$PWD/.venv/bin:$PATH"

if PYTHON="$PWD/.venv/bin/python" scripts/harness.sh up; then
  unset CHATOPS_DOCKER_UNAVAILABLE
else
  export CHATOPS_DOCKER_UNAVAILABLE="scripts/harness.sh could not start the Docker engine and registry (see its message above)"
  echo "test: $CHATOPS_DOCKER_UNAVAILABLE" >&2
fi

echo "== ruff"
ruff check src tests bench
echo "== mypy"
mypy
echo "== pytest"
exec pytest "$@"
