#!/usr/bin/env bash
# Install everything, then run the main job: a workflow that survives a SIGKILL, then an
# agent (OpenAI/Anthropic if a key is set, else the offline local model).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/python examples/crash_demo.py "$@"
exec .venv/bin/python examples/agent_demo.py
