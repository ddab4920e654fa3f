#!/bin/sh
# Back up a Docker volume, as a chatops pre_deploy hook (see the intent
# rollout_stack_notes): a failure here vetoes the deploy before anything changes.
# Usage: backup-volume.sh VOLUME   (into $BACKUP_DIR, which the intent's env: sets;
# default /var/backups/chatops)
set -eu
volume="$1"
dir="${BACKUP_DIR:-/var/backups/chatops}"
mountpoint="$(docker volume inspect --format '{{ .Mountpoint }}' "$volume")"
mkdir -p "$dir"
out="$dir/$volume-$(date -u +%Y%m%dT%H%M%SZ)-${CHATOPS_RUN_ID:-manual}.tar.gz"
tar -C "$mountpoint" -czf "$out.part" .
mv "$out.part" "$out"
echo "backed up volume $volume to $out before ${CHATOPS_NEW_IMAGE:-the new image} replaces ${CHATOPS_OLD_IMAGE:-what runs}"
