#!/usr/bin/env bash
# Install what the browser tests (tests/e2e, marker `e2e`) need: Debian's Chromium.
#
# Idempotent: does nothing when /usr/bin/chromium is there. Playwright for Python (in the
# dev extra) drives that binary through `executable_path=`; nothing is ever downloaded by
# Playwright (never run `playwright install`: its browser downloads do not work here).
# POLOS_SKIP_BROWSER=1 skips the install (the e2e tests then skip, or fail under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${POLOS_SKIP_BROWSER:-0}" = "1" ]; then
  exit 0
fi
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
bash scripts/apt_install.sh chromium
/usr/bin/chromium --version >/dev/null 2>&1 || {
  echo "polos_nb: /usr/bin/chromium was installed but does not start" >&2
  exit 1
}
