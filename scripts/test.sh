#!/usr/bin/env bash
# Install everything (from the lock), then check style and run the tests.
# Extra arguments go to pytest. POLOS_SKIP_LINT=1 skips the ruff and mypy checks (quick iterations).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/setup_browser.sh  # Chromium for the browser tests (tests/e2e)
export LITELLM_LOCAL_MODEL_COST_MAP=True
# The sandbox tests and notebook 09 need a Docker engine and the test image. In CI a failure
# here fails the run; elsewhere (no root, say) the Docker tests are skipped with the reason.
if ! bash scripts/setup_docker.sh; then
  if [ -n "${CI:-}" ]; then
    echo "polos_nb: scripts/setup_docker.sh failed; CI must run the Docker tests" >&2
    exit 1
  fi
  echo "polos_nb: no Docker engine; the Docker tests will be skipped" >&2
fi
if [ "${POLOS_SKIP_LINT:-0}" != "1" ]; then
  echo "polos_nb: ruff check, ruff format --check, mypy"
  .venv/bin/ruff check --quiet .
  .venv/bin/ruff format --check --quiet .
  .venv/bin/mypy  # what and how strictly: [tool.mypy] in pyproject.toml
fi
exec .venv/bin/python -m pytest "$@"
