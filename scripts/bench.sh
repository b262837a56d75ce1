#!/usr/bin/env bash
# Install polos_nb with the dev and bench extras (DBOS for the comparison), then run the
# engine benchmark. Prints a table and writes docs/benchmarks.md. Extra arguments go to
# bench/bench_engine.py (e.g. --quick, --no-dbos, --dir PATH). Takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
POLOS_EXTRAS=dev,bench bash scripts/bootstrap.sh
exec .venv/bin/python bench/bench_engine.py "$@"
