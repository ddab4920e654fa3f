#!/usr/bin/env bash
# Creates .venv with Python 3.11+ and installs chatops into it (with test tools if asked).
# Usage: scripts/bootstrap.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

find_python() {
  for py in python3.13 python3.12 python3.11 python3; do
    if command -v "$py" >/dev/null 2>&1 \
       && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$py"; return 0
    fi
  done
  return 1
}

PY="$(find_python)" || {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
    PY="$(find_python)" || die "Python 3.11 or newer is needed"
  else
    die "Python 3.11 or newer is needed (on Debian: apt-get install python3 python3-venv)"
  fi
}

if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv >/dev/null 2>&1; then
    rm -rf .venv
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      ver="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${ver}-venv" >/dev/null \
        || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      "$PY" -m venv .venv || die "cannot create .venv with $PY"
    else
      die "cannot create a virtual environment (on Debian: apt-get install python3-venv)"
    fi
  fi
fi

extra=""
[ "${1:-}" = "--test" ] && extra="[test]"
stamp=".venv/.installed${extra}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extra}" 2>&1 \
    | grep -v '^WARNING: Location' >&2 || true
  .venv/bin/python -c 'import chatops' || die "chatops did not install into .venv"
  touch "$stamp"
fi
