#!/usr/bin/env bash
# Prepares what the integration tests' Testcontainers need, where it is missing: a Docker engine and the images of the
# real servers they start (PostgreSQL for the database sink, Redis for a cluster of silos). Sourced by `./build.sh test`; safe to run again.
#
# Where a Docker engine already answers (DOCKER_HOST, or the default socket) and the images are there, nothing is done.
# Otherwise (a fresh Debian machine, root, no image registry reachable): Debian's docker.io is installed and its daemon
# started by hand (no init system needed), and each image is built from a Debian base made with debootstrap, tagged
# with the name users pull (postgres:15, redis:7), so the same tests run where a registry is reachable.
set -euo pipefail

FLEET_DOCKER_DIR=${FLEET_DOCKER_DIR:-/var/lib/fleet-test-docker}
POSTGRES_IMAGE=${FLEET_POSTGRES_IMAGE:-postgres:15}
REDIS_IMAGE=${FLEET_REDIS_IMAGE:-redis:7}

_sudo() { if [ "$(id -u)" -ne 0 ]; then sudo "$@"; else "$@"; fi; }

_engine_answers() { docker version --format '{{.Server.APIVersion}}' >/dev/null 2>&1; }

_install_packages() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}"
  # No init system here: keep the packages from trying to start services (the daemon is started below). The guard is
  # taken away again however the install ends (Ctrl-C included), by a trap kept inside a subshell, out of the caller.
  (
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
      trap '_sudo rm -f "$policy"' EXIT
      printf '#!/bin/sh\nexit 101\n' | _sudo tee "$policy" >/dev/null
      _sudo chmod +x "$policy"
    fi
    _sudo apt-get update -qq && _sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  )
}

_start_engine() {
  _sudo mkdir -p "$FLEET_DOCKER_DIR"
  export DOCKER_HOST="unix://$FLEET_DOCKER_DIR/docker.sock"
  _engine_answers && return 0
  echo "starting a Docker engine (data in $FLEET_DOCKER_DIR)"
  _sudo rm -f "$FLEET_DOCKER_DIR/dockerd.pid"
  # The socket's group is the caller's, so a caller who is not root can use the engine it started through sudo.
  _sudo sh -c "nohup dockerd --data-root '$FLEET_DOCKER_DIR/data' --exec-root '$FLEET_DOCKER_DIR/exec' -G '$(id -gn)' \
    --pidfile '$FLEET_DOCKER_DIR/dockerd.pid' -H '$DOCKER_HOST' >'$FLEET_DOCKER_DIR/dockerd.log' 2>&1 &"
  for _ in $(seq 1 60); do _engine_answers && return 0; sleep 0.5; done
  echo "error: the Docker engine did not start; its log:" >&2
  tail -20 "$FLEET_DOCKER_DIR/dockerd.log" >&2 || true
  return 1
}

_image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

_base_image() {
  _image_exists local/debian:bookworm && return 0
  command -v debootstrap >/dev/null 2>&1 || _install_packages debootstrap
  echo "building the base image local/debian:bookworm (debootstrap, about a minute)"
  local root
  root=$(mktemp -d)
  _sudo debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >/dev/null
  _sudo tar -C "$root" -c . | docker import - local/debian:bookworm >/dev/null
  _sudo rm -rf "$root"
}

_postgres_image() {
  _image_exists "$POSTGRES_IMAGE" && return 0
  _base_image
  echo "building $POSTGRES_IMAGE from Debian's postgresql-15"
  docker build -q -t "$POSTGRES_IMAGE" "$(dirname "${BASH_SOURCE[0]}")/images/postgres" >/dev/null
}

_redis_image() {
  _image_exists "$REDIS_IMAGE" && return 0
  _base_image
  echo "building $REDIS_IMAGE from Debian's redis-server"
  docker build -q -t "$REDIS_IMAGE" "$(dirname "${BASH_SOURCE[0]}")/images/redis" >/dev/null
}

_own_engine=""
if ! _engine_answers; then
  command -v dockerd >/dev/null 2>&1 || _install_packages docker.io iptables
  _start_engine
  _own_engine=1
fi
_postgres_image
_redis_image

# Testcontainers asks for a newer Docker API than Debian's docker.io (1.41) speaks: ask for the engine's own version.
if [ -z "${DOCKER_API_VERSION:-}" ]; then
  DOCKER_API_VERSION=$(docker version --format '{{.Server.APIVersion}}')
  export DOCKER_API_VERSION
fi
if [ -n "$_own_engine" ]; then
  # The engine started here: there is no registry for Testcontainers' reaper image (the tests dispose their
  # containers), and test traffic stays on loopback (this machine looks like a container). An engine that was already
  # there is left to its own settings.
  export TESTCONTAINERS_RYUK_DISABLED=${TESTCONTAINERS_RYUK_DISABLED:-true}
  export TESTCONTAINERS_HOST_OVERRIDE=${TESTCONTAINERS_HOST_OVERRIDE:-127.0.0.1}
fi
export FLEET_POSTGRES_IMAGE="$POSTGRES_IMAGE"
export FLEET_REDIS_IMAGE="$REDIS_IMAGE"
