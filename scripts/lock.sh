#!/usr/bin/env bash
# Refresh uv.lock after a change to the dependencies in pyproject.toml (or to pick up new
# releases: `bash scripts/lock.sh --upgrade`). Commit uv.lock with the change.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never
UV=$(bash scripts/uv.sh)
exec "$UV" lock --python "${PYTHON:-python3}" "$@"
