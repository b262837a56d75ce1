#!/usr/bin/env bash
# Install everything (from the lock), then check style and run the tests.
# Extra arguments go to pytest. POLOS_SKIP_LINT=1 skips the ruff and mypy checks (quick iterations).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build_extension.sh  # the JupyterLab extension (extension/), linked into .venv
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
# The PostgreSQL journal's tests need a server: scripts/setup_postgres.sh installs and starts
# a private one on a loopback port and prints its URL. In CI a failure fails the run (and
# the tests fail rather than skip without it); elsewhere those tests are skipped.
if url=$(bash scripts/setup_postgres.sh); then
  export POLOS_TEST_POSTGRES_URL="$url"
elif [ -n "${CI:-}" ]; then
  echo "polos_nb: scripts/setup_postgres.sh failed; CI must run the PostgreSQL tests" >&2
  exit 1
else
  echo "polos_nb: no PostgreSQL server; the PostgreSQL tests will be skipped" >&2
fi
if [ "${POLOS_SKIP_LINT:-0}" != "1" ]; then
  echo "polos_nb: ruff check, ruff format --check, mypy"
  .venv/bin/ruff check --quiet .
  .venv/bin/ruff format --check --quiet .
  .venv/bin/mypy  # what and how strictly: [tool.mypy] in pyproject.toml
fi
if [ "${POLOS_SKIP_EXTENSION:-0}" != "1" ]; then
  echo "polos_nb: JupyterLab extension: type check and unit tests (vitest)"
  (cd extension && npx --no-install tsc --noEmit -p tsconfig.test.json && npx --no-install vitest run)
fi
exec .venv/bin/python -m pytest "$@"
