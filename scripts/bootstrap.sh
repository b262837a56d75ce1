#!/usr/bin/env bash
# Install polos_nb and everything it needs into ./.venv, exactly as pinned in uv.lock.
#
#   POLOS_EXTRAS   comma-separated extras (default "dev,local": what the tests need;
#                  scripts/start.sh asks for "notebook" and builds "local" in the background)
#
# Idempotent and quick when nothing changed (uv checks the environment against the lock).
# `--locked` refuses to install when uv.lock no longer matches pyproject.toml: run
# `bash scripts/lock.sh` after editing the dependencies, and commit uv.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=${POLOS_EXTRAS:-dev,local}
export UV_PYTHON_DOWNLOADS=never
# Several installs at once (worktrees, CI steps) wait for one another's builds (the local
# model compiles for minutes) instead of giving up after uv's default 5 minutes.
export UV_LOCK_TIMEOUT=${UV_LOCK_TIMEOUT:-3600}
UV=$(bash scripts/uv.sh)
args=()
IFS=',' read -ra extras <<<"$EXTRAS"
for e in "${extras[@]}"; do
  [ -n "$e" ] && args+=(--extra "$e")
done
# --inexact: keep what another extra installed earlier (the local model built in the
# background, the bench peers); every locked package is still at its locked version.
# --compile-bytecode: write the .pyc files once, at install. Without them every process
# (each kernel, each test subprocess) compiles litellm's ~3,000 modules again whenever
# Python may not write its cache (PYTHONDONTWRITEBYTECODE, a read-only venv): measured
# here, `import litellm` took 14-17 s without them and 10-12 s with them. Later runs only
# compile what changed.
"$UV" sync --locked --inexact --quiet --compile-bytecode --python "${PYTHON:-python3}" "${args[@]}"
