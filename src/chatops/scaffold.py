"""``chatops init``: a GitOps repository shaped like the seed's, with the workflows of
its forge: GitHub Actions, Gitea and Forgejo Actions (the same syntax, run by act), or
GitLab CI."""

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
          CHATOPS_FORGE: @FORGE@
          CHATOPS_FORGE_URL: @FORGE_URL@
          CHATOPS_FORGE_REPO: ${{ github.repository }}
          CHATOPS_FORGE_TOKEN: ${{ secrets.GITHUB_TOKEN }}
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

GITLAB_CI = """\
# chatops: validate intents and comment the plan on merge requests; deploy on main.
# CI/CD variables: CHATOPS_GITLAB_TOKEN (a project access token with the api scope, to
# comment the plan), CHATOPS_API_KEY (masked) and CHATOPS_URL (where the runner reaches
# the chatops service). Hosts no runner can reach use pull mode or the webhook instead.
stages: [validate, deploy]

variables:
  CHATOPS_PIP_SPEC: chatops
  GIT_DEPTH: "0"  # the base commit too: the plan compares it with the head

.chatops:
  image: python:3.11-slim
  before_script:
    - apt-get update -qq && apt-get install -y -qq git >/dev/null
    - pip install --quiet "$CHATOPS_PIP_SPEC"

validate:
  extends: .chatops
  stage: validate
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      changes: ["chatops/**/*", "stacks/**/*"]
  variables:
    CHATOPS_FORGE: gitlab
    CHATOPS_FORGE_URL: $CI_SERVER_URL
    CHATOPS_FORGE_REPO: $CI_PROJECT_PATH
    CHATOPS_FORGE_TOKEN: $CHATOPS_GITLAB_TOKEN
  script:
    - chatops validate --check-compose
    - git fetch --quiet origin "$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
    - |
      set -- --pr "$CI_MERGE_REQUEST_IID" --base "$CI_MERGE_REQUEST_DIFF_BASE_SHA"
      if [ -n "$CHATOPS_GITLAB_TOKEN" ]; then
        chatops plan "$@" --head "$CI_COMMIT_SHA"
      else
        chatops plan "$@" --head "$CI_COMMIT_SHA" --no-comment
      fi

deploy:
  extends: .chatops
  stage: deploy
  resource_group: chatops-deploy  # one deploy at a time, in order
  rules:
    - if: $CI_COMMIT_BRANCH == "main" && $CI_PIPELINE_SOURCE == "push"
  script:
    - |
      BEFORE="$CI_COMMIT_BEFORE_SHA"
      if [ "$BEFORE" = "0000000000000000000000000000000000000000" ]; then
        BEFORE="$(git rev-list --max-parents=0 HEAD | tail -n 1)"
      fi
      for intent in $(chatops affected --base "$BEFORE" --head "$CI_COMMIT_SHA"); do
        chatops trigger "$intent" --sha "$CI_COMMIT_SHA" --wait
      done
"""

#: The forges ``chatops init --forge`` writes workflows for, and where they go.
FORGES = ("github", "gitea", "gitlab")


def files(forge: str = "github") -> dict[str, str]:
    """The repository's files for ``forge``."""
    if forge not in FORGES:
        raise ChatopsError(f"--forge: expected one of {', '.join(FORGES)}, got {forge!r}")
    common = {"stacks/example/docker-compose.yml": COMPOSE,
              "chatops/intents/rollout_example.yaml": INTENT, "README.md": README}
    if forge == "gitlab":
        return {**common, ".gitlab-ci.yml": GITLAB_CI}
    # Gitea and Forgejo Actions read GitHub's syntax and contexts (github.*, GITHUB_TOKEN).
    url = "${{ github.api_url }}" if forge == "github" else "${{ github.server_url }}"
    folder = ".github" if forge == "github" else ".gitea"
    validate = VALIDATE.replace("@FORGE@", forge).replace("@FORGE_URL@", url)
    return {**common, f"{folder}/workflows/validate-intents.yml": validate,
            f"{folder}/workflows/deploy.yml": DEPLOY}


def scaffold(folder: Path, *, force: bool = False, forge: str = "github") -> list[Path]:
    """Write the files; refuse to overwrite any that exist unless ``force``."""
    chosen = files(forge)
    existing = [rel for rel in chosen if (folder / rel).exists()]
    if existing and not force:
        raise ChatopsError(f"{folder} already has {', '.join(existing)}; use --force to "
                           "overwrite")
    written = []
    for rel, text in chosen.items():
        path = folder / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ChatopsError(f"cannot write {path}: {exc.strerror}") from None
        written.append(path)
    return written
