#!/usr/bin/env bash
# Print the path of a uv of the pinned version, installing it first if needed.
# uv installs polos_nb from the committed lock (uv.lock). It lives in .cache/ (git-ignored),
# installed by pip from PyPI with its hash checked.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.8
dir="$(pwd)/.cache/uv-$UV_VERSION"
if [ ! -x "$dir/bin/uv" ]; then
  "${PYTHON:-python3}" -m venv "$dir" >&2
  "$dir/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
    --require-hashes -r scripts/uv-requirements.txt >&2
fi
echo "$dir/bin/uv"
