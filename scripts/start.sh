#!/usr/bin/env bash
# Install everything, then open JupyterLab on the teaching notebooks in notebooks/.
#
#   bash scripts/start.sh            JupyterLab on http://127.0.0.1:$POLOS_PORT (default 8888)
#   bash scripts/start.sh --demos    the terminal demos instead: a workflow that survives a
#                                    SIGKILL, then an agent (OpenAI/Anthropic if a key is set,
#                                    else the offline local model)
# Extra arguments go to `jupyter lab`. News and update checks are off (jupyter_config.json);
# the server listens on 127.0.0.1 only and is protected by a token printed below.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export LITELLM_LOCAL_MODEL_COST_MAP=True

if [ "${1:-}" = "--demos" ]; then
  shift
  .venv/bin/python examples/crash_demo.py "$@"
  exec .venv/bin/python examples/agent_demo.py
fi

PORT=${POLOS_PORT:-8888}
TOKEN=${POLOS_TOKEN:-$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(24))')}
extra=()
if [ "$(id -u)" = "0" ]; then
  extra+=(--ServerApp.allow_root=True)
fi
echo "polos_nb: JupyterLab on the notebooks in $(pwd)/notebooks"
echo "polos_nb: open http://127.0.0.1:${PORT}/lab?token=${TOKEN}"
exec .venv/bin/jupyter lab --config="$(pwd)/jupyter_config.json" --no-browser --ip=127.0.0.1 \
  --port="$PORT" --ServerApp.port_retries=0 --IdentityProvider.token="$TOKEN" \
  --ServerApp.root_dir="$(pwd)/notebooks" "${extra[@]}" "$@"
