#!/usr/bin/env bash
# Install everything (from the lock), then check style and run the tests.
# Extra arguments go to pytest. POLOS_SKIP_LINT=1 skips the ruff and mypy checks (quick iterations).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export LITELLM_LOCAL_MODEL_COST_MAP=True
if [ "${POLOS_SKIP_LINT:-0}" != "1" ]; then
  echo "polos_nb: ruff check, ruff format --check, mypy"
  .venv/bin/ruff check --quiet .
  .venv/bin/ruff format --check --quiet .
  .venv/bin/mypy  # what and how strictly: [tool.mypy] in pyproject.toml
fi
exec .venv/bin/python -m pytest "$@"
