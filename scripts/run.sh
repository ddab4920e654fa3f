#!/usr/bin/env bash
# The main job, on the example GitOps repository: validate every intent, then show
# the dry-run plan of the seed's rollout. Nothing on this machine is changed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export CHATOPS_REPO="${CHATOPS_REPO:-$PWD/examples/homelab}"
.venv/bin/chatops validate
echo
.venv/bin/chatops plan "${1:-rollout_stack_media}"
