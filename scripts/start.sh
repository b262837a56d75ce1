#!/usr/bin/env bash
# Install everything, then open JupyterLab on the teaching notebooks.
#
#   bash scripts/start.sh            JupyterLab on your copies of notebooks/ (in workspace/)
#   bash scripts/start.sh --demos    the terminal demos instead: a workflow that survives a
#                                    SIGKILL, then an agent (OpenAI/Anthropic if a key is set,
#                                    else the offline local model)
#
# - The notebooks open in workspace/ (git-ignored): each notebook of notebooks/ is copied
#   there the first time (and trusted), so running and editing them never modifies the
#   tracked files.
#   Delete a copy (or workspace/) to get the shipped version back. POLOS_WORKSPACE moves it.
# - The server listens on 127.0.0.1, on $POLOS_PORT (default 8888) or, if that port is
#   busy, the next free one; the URL is printed once the server answers. The token comes
#   from $POLOS_TOKEN or is generated, and is passed in the environment, not on the
#   command line (where `ps` would show it to every local user).
# - No notebook needs the local model (provider="local"), so it is built in the
#   background (log: .cache/local-model.log) while JupyterLab is already usable.
# Extra arguments go to `jupyter lab`. News and update checks are off (jupyter_config.json).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export LITELLM_LOCAL_MODEL_COST_MAP=True

if [ "${1:-}" = "--demos" ]; then
  shift
  POLOS_EXTRAS=notebook,local bash scripts/bootstrap.sh
  .venv/bin/python examples/crash_demo.py "$@"
  exec .venv/bin/python examples/agent_demo.py
fi

POLOS_EXTRAS=notebook bash scripts/bootstrap.sh
bash scripts/build_extension.sh  # the Polos sidebar (skipped when extension/ did not change)

if ! .venv/bin/python -c 'import importlib.util as u, sys; sys.exit(u.find_spec("llama_cpp") is None)'; then
  mkdir -p .cache
  export POLOS_LOCAL_MODEL_LOG="$ROOT/.cache/local-model.log"
  # flock: a second start.sh while the first build runs does not start another one.
  if flock -n .cache/local-model.lock true; then
    echo "polos_nb: building the local model in the background (log: .cache/local-model.log)"
    nohup flock .cache/local-model.lock bash scripts/install_local_model.sh \
      >"$POLOS_LOCAL_MODEL_LOG" 2>&1 </dev/null &
  fi
fi

WORKSPACE=${POLOS_WORKSPACE:-$ROOT/workspace}
mkdir -p "$WORKSPACE"
fresh=()
for nb in notebooks/*.ipynb; do
  target="$WORKSPACE/$(basename "$nb")"
  if [ ! -e "$target" ]; then
    cp "$nb" "$target"
    fresh+=("$target")
  fi
done
# Trust the fresh copies (their saved run snapshots render as they were saved, styled,
# instead of as sanitized text). Jupyter signs them with this user's own secret.
if [ ${#fresh[@]} -gt 0 ]; then
  .venv/bin/jupyter trust "${fresh[@]}" >/dev/null
fi

export JUPYTER_TOKEN=${POLOS_TOKEN:-$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(24))')}
extra=()
if [ "$(id -u)" = "0" ]; then
  extra+=(--ServerApp.allow_root=True)
fi
.venv/bin/jupyter lab --config="$ROOT/jupyter_config.json" --no-browser --ip=127.0.0.1 \
  --port="${POLOS_PORT:-8888}" --ServerApp.port_retries=50 \
  --ServerApp.root_dir="$WORKSPACE" "${extra[@]}" "$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 0' INT TERM

# The server writes jpserver-<pid>.json (with the port it really bound) once it listens.
if ! .venv/bin/python scripts/_wait_for_server.py "$pid"; then
  wait "$pid" || true
  exit 1
fi
wait "$pid"
