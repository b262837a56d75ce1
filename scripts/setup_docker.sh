#!/usr/bin/env bash
# A private Docker engine for the sandbox tools, their tests and notebook 09. Idempotent.
#
#   bash scripts/setup_docker.sh          # install, start, build the image (quick when done)
#   bash scripts/setup_docker.sh --stop   # stop the engine this script started
#
# 1. Installs docker.io (engine, containerd, runc) and busybox-static from Debian's apt.
# 2. Starts `dockerd` in the background with its own data root, exec root and Unix socket
#    under $POLOS_DOCKER_ROOT (default /tmp/polos_nb-docker): no bridge network, no
#    iptables changes, nothing touches the host's network or a system Docker.
#    Several checkouts on one machine share this one engine.
# 3. Builds the image `polos-nb-sandbox:py3` without any registry (`docker import` of a root
#    file system made here: busybox's shell and tools plus this machine's Python 3 and the
#    libraries it links to).
# 4. Writes `DOCKER_HOST=unix://...` to $POLOS_DOCKER_ROOT/env and to .cache/docker.env;
#    the tests and notebook 09 read it (polos_nb.sandbox finds it by itself too).
#
# Needs root (or passwordless sudo): dockerd does.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${POLOS_DOCKER_ROOT:-/tmp/polos_nb-docker}
SOCK="$ROOT/docker.sock"
IMAGE=${POLOS_SANDBOX_TEST_IMAGE:-polos-nb-sandbox:py3}
PY=${POLOS_SANDBOX_IMAGE_PYTHON:-/usr/bin/python3}

SUDO=()
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "polos_nb: scripts/setup_docker.sh needs root (dockerd runs as root); run it with sudo." >&2
    exit 1
  fi
fi

if [ "${1:-}" = "--stop" ]; then
  if [ -f "$ROOT/dockerd.pid" ]; then
    pid=$(cat "$ROOT/dockerd.pid")
    "${SUDO[@]}" kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  exit 0
fi

mkdir -p "$ROOT"
exec 8>"$ROOT.lock"
flock 8

bash scripts/apt_install.sh docker.io busybox-static

DOCKERD=$(command -v dockerd || echo /usr/sbin/dockerd)
# The client that came with docker.io (the engine's own version); any newer client works too.
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker)
dk() { "${SUDO[@]}" "$DOCKER" -H "unix://$SOCK" "$@"; }

if ! dk version >/dev/null 2>&1; then
  mkdir -p "$ROOT/data" "$ROOT/exec"
  rm -f "$SOCK"
  echo "polos_nb: starting dockerd (socket $SOCK, log $ROOT/dockerd.log)"
  # setsid + nohup: the engine outlives this script and the test run that started it.
  "${SUDO[@]}" setsid nohup "$DOCKERD" \
    --data-root "$ROOT/data" --exec-root "$ROOT/exec" -H "unix://$SOCK" \
    --pidfile "$ROOT/dockerd.pid" --bridge=none --iptables=false --ip-masq=false \
    --ip6tables=false >"$ROOT/dockerd.log" 2>&1 </dev/null 8>&- &
  for _ in $(seq 300); do
    dk version >/dev/null 2>&1 && break
    sleep 0.1
  done
  if ! dk version >/dev/null 2>&1; then
    echo "polos_nb: dockerd did not answer within 30 s; its log:" >&2
    tail -n 30 "$ROOT/dockerd.log" >&2 || true
    exit 1
  fi
fi
# Other users of this machine (the tests run as whoever runs them) may talk to the engine.
"${SUDO[@]}" chmod 666 "$SOCK" 2>/dev/null || true

if ! dk image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "polos_nb: building $IMAGE with docker import (busybox + $(readlink -f "$PY"))"
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  mkdir -p "$rootfs"/usr/bin "$rootfs"/usr/lib "$rootfs"/usr/lib64 "$rootfs"/usr/sbin \
    "$rootfs"/etc "$rootfs"/tmp "$rootfs"/root "$rootfs"/workspace "$rootfs"/home
  chmod 1777 "$rootfs/tmp"
  for d in bin lib lib64 sbin; do ln -s "usr/$d" "$rootfs/$d"; done
  cp /bin/busybox "$rootfs/usr/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ -e "$rootfs/usr/bin/$applet" ] || ln -s busybox "$rootfs/usr/bin/$applet"
  done
  # Python: the interpreter, its standard library (without the test suites and GUI parts),
  # and every shared library the interpreter and its extension modules load.
  pybin=$(readlink -f "$PY")
  pyver=$(basename "$pybin")
  cp "$pybin" "$rootfs/usr/bin/$pyver"
  ln -sf "$pyver" "$rootfs/usr/bin/python3"
  ln -sf "$pyver" "$rootfs/usr/bin/python"
  stdlib="/usr/lib/$pyver"
  tar -C /usr/lib --exclude="$pyver/test" --exclude="$pyver/idlelib" --exclude="$pyver/tkinter" \
    --exclude="$pyver/turtledemo" --exclude="$pyver/ensurepip" --exclude="$pyver/lib2to3" \
    --exclude="$pyver/config-*" -cf - "$pyver" | tar -C "$rootfs/usr/lib" -xf -
  for f in "$pybin" "$stdlib"/lib-dynload/*.so; do
    ldd "$f" 2>/dev/null | grep -o '/[^ ]*' || true
  done | sort -u | while read -r lib; do
    [ -e "$lib" ] || continue
    real=$(readlink -f "$lib")
    case "$lib" in
      /lib/*|/lib64/*) dest="$rootfs/usr$lib" ;;
      *) dest="$rootfs$lib" ;;
    esac
    mkdir -p "$(dirname "$dest")"
    cp -L "$real" "$dest"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  tar -C "$rootfs" -cf - . | dk import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' \
    --change 'ENV LANG=C.UTF-8' --change 'WORKDIR /workspace' - "$IMAGE" >/dev/null
  dk run --rm --network none "$IMAGE" python3 -c 'import json, sqlite3, ssl, zlib' \
    || { echo "polos_nb: the image $IMAGE does not run Python" >&2; exit 1; }
fi

mkdir -p .cache
echo "DOCKER_HOST=unix://$SOCK" >"$ROOT/env"
echo "DOCKER_HOST=unix://$SOCK" >.cache/docker.env
echo "polos_nb: Docker ready (DOCKER_HOST=unix://$SOCK, image $IMAGE)"
