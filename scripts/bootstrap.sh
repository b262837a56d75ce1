#!/usr/bin/env bash
# Install everything polos_nb needs into ./.venv, idempotently.
# A second run with an unchanged pyproject.toml does nothing (a stamp file records it);
# pip's cache (~/.cache/pip) keeps re-installs fast.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
EXTRAS=${POLOS_EXTRAS:-dev,local}   # dev pulls in the notebook extra (JupyterLab, ipykernel, anywidget, nbval)

if [ ! -x "$ROOT/.venv/bin/python" ]; then
  echo "polos_nb: creating .venv"
  "$PY" -m venv "$ROOT/.venv"
  "$ROOT/.venv/bin/python" -m pip install -q --upgrade pip
fi

stamp="$ROOT/.venv/.polos_nb-installed"
want="$(cat pyproject.toml | sha256sum | cut -d' ' -f1) $EXTRAS"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "polos_nb: installing polos_nb[$EXTRAS] into .venv"
  "$ROOT/.venv/bin/python" -m pip install -q -e ".[$EXTRAS]"
  echo "$want" > "$stamp"
fi
