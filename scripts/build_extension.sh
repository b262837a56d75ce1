#!/usr/bin/env bash
# Build the JupyterLab extension (extension/ -> polos_nb/labextension) and install it into
# this checkout's environment (.venv): the labextension is linked into the environment's
# Jupyter data path and the server extension switched on, as a pip-installed wheel would.
#
#   bash scripts/build_extension.sh               build if the sources changed, then install
#   bash scripts/build_extension.sh --no-install  build only (what a wheel build runs)
#   bash scripts/build_extension.sh --force       build even if nothing changed
#
# Idempotent and quick when nothing changed: the build is skipped when a hash of the
# sources (package.json, package-lock.json, tsconfig, src/, style/) matches the last
# build's, and `npm ci` runs only when package-lock.json changed. npm's cache (~/.npm)
# makes a rebuild from a clean clone download nothing twice.
# POLOS_SKIP_EXTENSION=1 skips everything (kernel-only work; the magics and widgets do
# not need the extension).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
install=1
force=0
for arg in "$@"; do
  case "$arg" in
    --no-install) install=0 ;;
    --force) force=1 ;;
    *) echo "build_extension.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
if [ "${POLOS_SKIP_EXTENSION:-0}" = "1" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  bash scripts/apt_install.sh nodejs npm
fi

EXT=extension
OUT=polos_nb/labextension
# jupyter-builder (the Python half of @jupyter/builder) comes with JupyterLab in .venv; a
# clean clone without .venv (a wheel built straight from a checkout) gets the notebook extra.
if [ ! -x .venv/bin/jupyter-builder ] && ! command -v jupyter-builder >/dev/null 2>&1; then
  echo "polos_nb: no jupyter-builder here: installing the notebook extra into .venv first"
  POLOS_EXTRAS=notebook bash scripts/bootstrap.sh
fi
if [ -x .venv/bin/jupyter-builder ]; then
  export PATH="$ROOT/.venv/bin:$PATH"
fi

hash_of() {
  # a stable hash of the given files' contents and names
  LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64
}

lock_hash=$(printf '%s\0' "$EXT/package-lock.json" | hash_of)
if [ ! -f "$EXT/node_modules/.polos-lock-hash" ] || [ "$(cat "$EXT/node_modules/.polos-lock-hash")" != "$lock_hash" ]; then
  echo "polos_nb: npm ci in $EXT/"
  (cd "$EXT" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_hash" >"$EXT/node_modules/.polos-lock-hash"
fi

source_hash=$(
  {
    printf '%s\0' "$EXT/package.json" "$EXT/package-lock.json" "$EXT/tsconfig.json"
    find "$EXT/src" "$EXT/style" -type f ! -path '*/__tests__/*' -print0
  } | hash_of
)
if [ "$force" = "1" ] || [ ! -f "$OUT/package.json" ] || [ ! -f "$OUT/.polos-source-hash" ] \
  || [ "$(cat "$OUT/.polos-source-hash")" != "$source_hash" ]; then
  echo "polos_nb: building the JupyterLab extension"
  (cd "$EXT" && npm run --silent build:prod >/dev/null)
  test -f "$OUT/package.json" || { echo "polos_nb: the build left no $OUT/package.json" >&2; exit 1; }
  echo "$source_hash" >"$OUT/.polos-source-hash"
fi

if [ "$install" = "1" ] && [ -d .venv ]; then
  # What the wheel's data files do, for this checkout: link, so a rebuild is live at once.
  data=.venv/share/jupyter/labextensions
  mkdir -p "$data"
  target="$ROOT/$OUT"
  if [ "$(readlink "$data/polos-nb" 2>/dev/null || true)" != "$target" ]; then
    rm -rf "$data/polos-nb"
    ln -s "$target" "$data/polos-nb"
  fi
  conf=.venv/etc/jupyter/jupyter_server_config.d
  mkdir -p "$conf"
  cmp -s jupyter-config/jupyter_server_config.d/polos_nb.json "$conf/polos_nb.json" \
    || cp jupyter-config/jupyter_server_config.d/polos_nb.json "$conf/polos_nb.json"
fi
