#!/bin/sh
# The image's entry point: on the first start with no key at all (no CHATOPS_API_KEY and
# none in the state volume), create key "admin" and print its token once; then serve.
set -eu
if [ -z "${CHATOPS_API_KEY:-}" ] && ! chatops keys list --format json | grep -q '"name"'; then
  echo "chatops: no API key yet; created key 'admin', its token is below (shown once):" >&2
  chatops keys create admin --approve --rollback --audit
fi
exec chatops serve "$@"
