"""``chatops init``: a GitOps repository shaped like the seed's, with its workflows."""

from __future__ import annotations

from pathlib import Path

from chatops.errors import ChatopsError

COMPOSE = """\
# One folder per stack; chatops deploys what this file says.
services:
  web:
    image: traefik/whoami:v1.10.3
    restart: unless-stopped
    ports:
      - "127.0.0.1:8081:80"
    healthcheck:
      test: ["CMD", "/whoami", "--help"]
      interval: 30s
"""

INTENT = """\
# Rollout Example Stack
# Purpose: Deploy the example web service.
# Post-deploy: it answers on 127.0.0.1:8081 within a minute.

label_required: approved
action: rollout
stack: example
service: web
health:
  - http: http://127.0.0.1:8081/
    within: 60s
"""

INSTALL = """\
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install chatops
        # Edit CHATOPS_PIP_SPEC (top of this file) to where you install chatops from.
        run: pip install "$CHATOPS_PIP_SPEC"
"""

VALIDATE = """\
name: Validate intents

on:
  pull_request:
    paths:
      - "chatops/**"
      - "stacks/**"

permissions:
  contents: read
  pull-requests: write  # the plan comment

env:
  CHATOPS_PIP_SPEC: chatops

jobs:
  validate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0  # the base commit too: the plan compares it with the head
""" + INSTALL + """\
      - name: Validate intents and compose files
        run: chatops validate --check-compose
      - name: Comment the plan on the pull request (one comment, updated on each push)
        # A fork's token cannot comment; its plan is in this job's log instead.
        env:
          CHATOPS_GITHUB_REPO: ${{ github.repository }}
          CHATOPS_GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}
          PR: ${{ github.event.pull_request.number }}
          BASE: ${{ github.event.pull_request.base.sha }}
          HEAD: ${{ github.event.pull_request.head.sha }}
          HEAD_REPO: ${{ github.event.pull_request.head.repo.full_name }}
        run: |
          if [ "$HEAD_REPO" = "$GITHUB_REPOSITORY" ]; then
            chatops plan --pr "$PR" --base "$BASE" --head "$HEAD"
          else
            chatops plan --pr "$PR" --base "$BASE" --head "$HEAD" --no-comment
          fi
"""

DEPLOY = """\
name: Deploy

on:
  push:
    branches: [main]

permissions:
  contents: read

env:
  CHATOPS_PIP_SPEC: chatops

# One deploy at a time; a newer push waits instead of cancelling one in flight.
concurrency:
  group: chatops-deploy
  cancel-in-progress: false

jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
""" + INSTALL + """\
      - name: Find the intents this push affects
        id: affected
        env:
          BEFORE: ${{ github.event.before }}
        run: |
          if [ "$BEFORE" = "0000000000000000000000000000000000000000" ]; then
            BEFORE="$(git rev-list --max-parents=0 HEAD | tail -n 1)"
          fi
          intents="$(chatops affected --base "$BEFORE" --head "$GITHUB_SHA" | tr '\\n' ' ')"
          echo "intents=$intents" >> "$GITHUB_OUTPUT"

      - name: Join the tailnet
        if: steps.affected.outputs.intents != ''
        uses: tailscale/github-action@v2
        with:
          oauth-client-id: ${{ secrets.TS_OAUTH_CLIENT_ID }}
          oauth-secret: ${{ secrets.TS_OAUTH_SECRET }}
          tags: tag:automation

      - name: Deploy each affected intent, in dependency order
        if: steps.affected.outputs.intents != ''
        env:
          CHATOPS_API_KEY: ${{ secrets.CHATOPS_API_KEY }}
          CHATOPS_URL: ${{ secrets.CHATOPS_URL }}
          INTENTS: ${{ steps.affected.outputs.intents }}
        run: |
          for intent in $INTENTS; do
            chatops trigger "$intent" --sha "$GITHUB_SHA" --wait
          done
"""

README = """\
# GitOps for this host

- `stacks/<stack>/docker-compose.yml`: what runs.
- `chatops/intents/*.yaml`: how a change is rolled out (see `chatops schema`).

Change a compose file and its intent in a pull request; CI validates them; a reviewer
adds the label the intent names (`label_required`); on merge, the Deploy workflow
triggers chatops on the host for each affected intent, and chatops deploys, verifies,
rolls back on failure and announces the result.

Repository settings the workflows read: secret `CHATOPS_API_KEY` (a key from
`chatops keys create github-ci`), secrets `TS_OAUTH_CLIENT_ID` and `TS_OAUTH_SECRET`
(Tailscale), and secret `CHATOPS_URL` (e.g. http://whitebox.ts.net:8000). Set
`CHATOPS_PIP_SPEC` at the top of each workflow to where you install chatops from.
"""

FILES = {
    "stacks/example/docker-compose.yml": COMPOSE,
    "chatops/intents/rollout_example.yaml": INTENT,
    ".github/workflows/validate-intents.yml": VALIDATE,
    ".github/workflows/deploy.yml": DEPLOY,
    "README.md": README,
}


def scaffold(folder: Path, *, force: bool = False) -> list[Path]:
    """Write the files; refuse to overwrite any that exist unless ``force``."""
    existing = [rel for rel in FILES if (folder / rel).exists()]
    if existing and not force:
        raise ChatopsError(f"{folder} already has {', '.join(existing)}; use --force to "
                           "overwrite")
    written = []
    for rel, text in FILES.items():
        path = folder / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ChatopsError(f"cannot write {path}: {exc.strerror}") from None
        written.append(path)
    return written
