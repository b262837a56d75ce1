"""A real ipykernel driven through jupyter_client: run cells, read outputs, click widgets.

A "click" is the exact message a frontend sends for ``model.send(...)`` in a widget's
JavaScript: a ``comm_msg`` on the shell channel with ``{"method": "custom", "content": ...}``.
"""

from __future__ import annotations

import json
import os
import queue
import time
from pathlib import Path
from typing import Any

from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parents[2]


class Kernel:
    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "JPY_"))}
        full_env.update(
            {
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "POLOS_NB_ALLOW_MODEL_REQUESTS": "0",
                "PYTHONPATH": str(ROOT),
                "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            }
        )
        full_env.update(env or {})
        self.km, self.kc = start_new_kernel(
            kernel_name="python3", startup_timeout=90, cwd=str(cwd), env=full_env
        )
        self.backlog: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ messages
    def _iopub(self, timeout: float) -> dict[str, Any] | None:
        try:
            return self.kc.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return None

    def send(self, code: str) -> str:
        """Send a cell without waiting for it; returns its msg_id."""
        return str(self.kc.execute(code, allow_stdin=False))

    def wait(
        self, msg_id: str, timeout: float = 60.0
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Wait for a sent cell to finish; returns (execute_reply content, iopub messages of it)."""
        deadline = time.monotonic() + timeout
        outputs: list[dict[str, Any]] = []
        keep: list[dict[str, Any]] = []
        for msg in self.backlog:
            (outputs if msg["parent_header"].get("msg_id") == msg_id else keep).append(msg)
        self.backlog = keep
        idle = any(
            m["msg_type"] == "status" and m["content"]["execution_state"] == "idle" for m in outputs
        )
        while not idle:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"cell {msg_id} did not finish within {timeout}s; outputs: {self.text(outputs)}"
                )
            msg = self._iopub(min(remaining, 1.0))
            if msg is None:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                self.backlog.append(msg)
                continue
            outputs.append(msg)
            idle = msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
        reply = self.kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
        return reply["content"], outputs

    def run(
        self, code: str, timeout: float = 60.0, allow_error: bool = False
    ) -> list[dict[str, Any]]:
        reply, outputs = self.wait(self.send(code), timeout)
        if reply["status"] != "ok" and not allow_error:
            raise AssertionError(
                f"cell failed: {reply.get('ename')}: {reply.get('evalue')}\n{code}"
            )
        return outputs

    def value(self, expr: str, timeout: float = 60.0) -> Any:
        """Evaluate ``expr`` in the kernel and return it (JSON round trip)."""
        outputs = self.run(
            f"import json as _j; print('@@' + _j.dumps({expr}, default=str))", timeout
        )
        for line in self.text(outputs).splitlines():
            if line.startswith("@@"):
                return json.loads(line[2:])
        raise AssertionError(f"no value for {expr!r}: {self.text(outputs)}")

    def poll(self, expr: str, want: Any, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.value(expr)
            if want(last) if callable(want) else last == want:
                return last
            time.sleep(0.2)
        raise AssertionError(f"{expr} stayed {last!r}")

    @staticmethod
    def text(outputs: list[dict[str, Any]]) -> str:
        # One print may reach the frontend as several stream messages (the
        # kernel flushes on a timer), so consecutive chunks join as they are.
        parts: list[str] = []
        streaming = False
        for m in outputs:
            c = m["content"]
            if m["msg_type"] == "stream":
                if streaming:
                    parts[-1] += c["text"]
                else:
                    parts.append(c["text"])
                streaming = True
                continue
            streaming = False
            if m["msg_type"] in ("display_data", "execute_result", "update_display_data"):
                parts.append(c["data"].get("text/plain", ""))
                parts.append(c["data"].get("text/html", ""))
            elif m["msg_type"] == "error":
                parts.append(f"{c['ename']}: {c['evalue']}")
        return "\n".join(parts)

    def click(self, comm_id: str, content: dict[str, Any]) -> None:
        """What a widget's ``model.send(content)`` puts on the wire."""
        msg = self.kc.session.msg(
            "comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": content}}
        )
        self.kc.shell_channel.send(msg)

    def restart(self) -> None:
        self.km.restart_kernel(now=True)
        self.kc.wait_for_ready(timeout=90)
        self.backlog.clear()
        while self._iopub(0.2) is not None:
            pass

    def close(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=True)
