#!/usr/bin/env bash
# A local Debian base image from Debian's own packages, for machines where no image hub is
# reachable (this project's CI): debootstrap a minimal bookworm root, trim it as
# debian:bookworm-slim is trimmed, and 'docker import' it. Then build chatops's image on it:
#   docker build --network host --build-arg BASE=chatops-base:bookworm -t chatops .
# Usage: scripts/base-image.sh [TAG]   (default chatops-base:bookworm; kept when present)
set -euo pipefail
tag="${1:-chatops-base:bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base-image: $tag is there already" >&2
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "base-image: debootstrap needs root" >&2; exit 1; }
if ! command -v debootstrap >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
echo "base-image: debootstrap bookworm (minbase) from $mirror" >&2
debootstrap --variant=minbase --include=ca-certificates bookworm "$root/rootfs" "$mirror" >"$root/log" 2>&1 \
  || { tail -20 "$root/log" >&2; exit 1; }
# As the slim image: no package caches or lists, no docs, man pages or translations, and
# dpkg told to leave them out of what is installed later.
rm -rf "$root"/rootfs/var/cache/apt/archives/*.deb "$root"/rootfs/var/cache/apt/*.bin \
  "$root"/rootfs/var/lib/apt/lists/* \
  "$root"/rootfs/usr/share/doc/* "$root"/rootfs/usr/share/man/* "$root"/rootfs/usr/share/info/* \
  "$root"/rootfs/usr/share/locale/* "$root"/rootfs/var/log/*.log "$root"/rootfs/var/cache/debconf/*-old
cat >"$root/rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
CFG
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
  >"$root/rootfs/etc/apt/apt.conf.d/docker-no-recommends"
tar -C "$root/rootfs" --numeric-owner -c . | docker import -c 'CMD ["bash"]' - "$tag" >/dev/null
echo "base-image: $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))" >&2
