#!/usr/bin/env bash
# The main job: install chatops into .venv and serve an example GitOps repository
# (embedded defaults: SQLite in the state directory, loopback only): examples/demo, whose
# stacks really run here with the harness's images, or examples/homelab with --homelab.
# Prints, once, an API key and a first dashboard user's password, and how to use them.
set -euo pipefail
cd "$(dirname "$0")/.."
example=demo
if [ "${1:-}" = "--homelab" ]; then
  example=homelab
  shift
fi
scripts/bootstrap.sh
export CHATOPS_REPO="${CHATOPS_REPO:-$PWD/examples/$example}"
export APPROVED_LABEL="${APPROVED_LABEL:-approved-by-gemini}"
export CHATOPS_STATE_DIR="${CHATOPS_STATE_DIR:-$PWD/.state}"
port="${CHATOPS_PORT:-8000}"
if [ -z "${CHATOPS_API_KEY:-}" ]; then
  CHATOPS_API_KEY="$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))')"
  export CHATOPS_API_KEY
  echo "run.sh: an API key for this session (shown once): $CHATOPS_API_KEY" >&2
fi
if ! .venv/bin/chatops users list --format json | grep -q '"name": "admin"'; then
  password="$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(18))')"
  printf '%s\n' "$password" | .venv/bin/chatops users add admin \
    --scopes read,run,rollback,approve,audit --password-stdin >/dev/null
  echo "run.sh: dashboard user 'admin', password (shown once): $password" >&2
fi
.venv/bin/chatops validate
if [ "$example" = demo ]; then first=rollout_stack_demo; else first=rollout_stack_media; fi
cat >&2 <<EOF

The dashboard: http://127.0.0.1:$port/ui  (sign in as admin)
Try the API (a dry run: the plan, nothing changes):
  curl -X POST http://127.0.0.1:$port/run -H "X-API-Key: $CHATOPS_API_KEY" \\
    -H 'Content-Type: application/json' -d '{"name": "$first", "dry_run": true}'
A real deploy (needs the harness's engine and images: scripts/harness.sh up):
  curl -X POST http://127.0.0.1:$port/run -H "X-API-Key: $CHATOPS_API_KEY" \\
    -H 'Content-Type: application/json' -d '{"name": "$first", "wait": true}'

EOF
exec .venv/bin/chatops serve --port "$port" "$@"
