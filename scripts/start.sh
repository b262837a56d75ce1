#!/usr/bin/env bash
# Install everything, then run the main job: a workflow that survives a SIGKILL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python examples/crash_demo.py "$@"
