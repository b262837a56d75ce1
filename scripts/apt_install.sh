#!/usr/bin/env bash
# Install the given Debian packages if any is missing, idempotently:
#   bash scripts/apt_install.sh chromium docker.io
# Runs `apt-get update` at most once an hour; serialised with a lock so that setup scripts
# started together do not fight over dpkg. Needs root (or sudo).
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=()
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null; then
    SUDO=(sudo -n)
  else
    echo "polos_nb: please install these Debian packages (as root): ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
exec 9>/tmp/polos_nb-apt.lock
flock 9
stamp=/tmp/polos_nb-apt-updated
if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +60)" ]; then
  "${SUDO[@]}" apt-get update -qq
  touch "$stamp"
fi
echo "polos_nb: installing ${missing[*]}"
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
