#!/usr/bin/env bash
# Install polos_nb with the dev and bench extras (DBOS for the comparison), then run both
# benchmarks: bench/bench_engine.py (per-step overhead, DBOS, throughput, recovery) and
# bench/bench_flow.py (queue dispatch/admission and event-trigger latency). Each prints a
# table and writes its part of docs/benchmarks.md. Extra arguments go to both scripts
# (e.g. --quick, --dir PATH; bench_flow.py ignores bench_engine-only ones such as --no-dbos).
# Takes about a minute and a half.
set -euo pipefail
cd "$(dirname "$0")/.."
POLOS_EXTRAS=dev,bench bash scripts/bootstrap.sh
.venv/bin/python bench/bench_engine.py "$@"
echo
exec .venv/bin/python bench/bench_flow.py "$@"
