"""Wait until the Jupyter server with the given PID answers, then print its URL.

Used by scripts/start.sh: the port may differ from the one asked for (a busy port moves on
to the next free one), so the URL is read from the server's own runtime file and printed
only once ``/api/status`` answers. The token is read from ``JUPYTER_TOKEN``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from pathlib import Path

from jupyter_core.paths import jupyter_runtime_dir


def main(pid: int, timeout: float = 180.0) -> int:
    info_file = Path(jupyter_runtime_dir()) / f"jpserver-{pid}.json"
    token = os.environ.get("JUPYTER_TOKEN", "")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print(
                "polos_nb: JupyterLab exited before it answered (see its log above)",
                file=sys.stderr,
            )
            return 1
        if info_file.exists():
            try:
                info = json.loads(info_file.read_text())
                base = f"http://127.0.0.1:{info['port']}{info.get('base_url', '/')}"
                request = urllib.request.Request(
                    base + "api/status", headers={"Authorization": f"token {token}"}
                )
                with urllib.request.urlopen(request, timeout=5):
                    pass
            except (OSError, ValueError, KeyError):
                pass
            else:
                print(f"\npolos_nb: JupyterLab is ready: {base}lab?token={token}\n", flush=True)
                return 0
        time.sleep(0.25)
    print(f"polos_nb: JupyterLab did not answer within {timeout:.0f} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
