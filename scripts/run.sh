#!/usr/bin/env bash
# The main job: install chatops into .venv and serve the example GitOps repository
# (embedded defaults: SQLite in the state directory, loopback only). Prints how to call it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export CHATOPS_REPO="${CHATOPS_REPO:-$PWD/examples/homelab}"
export APPROVED_LABEL="${APPROVED_LABEL:-approved-by-gemini}"
if [ -z "${CHATOPS_API_KEY:-}" ]; then
  CHATOPS_API_KEY="$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))')"
  export CHATOPS_API_KEY
  echo "run.sh: generated an API key for this session: $CHATOPS_API_KEY" >&2
fi
.venv/bin/chatops validate
echo
echo "Try it (dry run: the plan, nothing changes):" >&2
echo "  curl -X POST http://127.0.0.1:${CHATOPS_PORT:-8000}/run -H \"X-API-Key: \$CHATOPS_API_KEY\" -H 'Content-Type: application/json' -d '{\"name\": \"rollout_stack_media\", \"dry_run\": true}'" >&2
exec .venv/bin/chatops serve "$@"
