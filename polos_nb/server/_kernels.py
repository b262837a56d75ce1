"""Live runs: one comm per kernel that loaded polos_nb (the kernel owns its journal).

For each running kernel whose hint file exists (``polos_nb-kernel-<id>.json`` beside its
connection file, written by ``%load_ext polos_nb``), a :class:`KernelLink` connects its
own client to the kernel (shell and iopub channels) and opens a comm to the kernel's
``polos_nb.lab`` target (protocol: ``polos_nb.notebook._lab``). Requests are answered on
the comm; the kernel also pushes ``changed`` messages, which :class:`KernelLink` passes to
``on_change`` so the server can tell the browser at once.

A kernel that is busy with a long cell answers when the cell ends; a request times out
first (the source shows as busy, its last known runs stay). A restarted kernel drops the
comm; the link is opened again when the new kernel writes its hint.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from polos_nb.notebook._lab import PROTOCOL, TARGET

__all__ = ["KernelGone", "KernelLink", "KernelRequestError"]

log = logging.getLogger(__name__)

HELLO_TIMEOUT = 10.0
REQUEST_TIMEOUT = 8.0


class KernelGone(Exception):
    """The kernel closed the comm, restarted or does not have polos_nb loaded."""


class KernelRequestError(Exception):
    """The kernel answered a request with an error (``type``, ``message``, ``errors``)."""

    def __init__(self, error: dict[str, Any]) -> None:
        self.type = str(error.get("type") or "Error")
        self.errors = error.get("errors") or {}
        super().__init__(str(error.get("message") or self.type))


class KernelLink:
    """A comm between the server extension and one kernel (see the module docstring)."""

    def __init__(
        self,
        kernel_id: str,
        connection_info: dict[str, Any],
        *,
        on_change: Callable[[KernelLink, dict[str, Any]], None],
        approval_base_url: str | None = None,
    ) -> None:
        from jupyter_client.asynchronous import AsyncKernelClient

        self.kernel_id = kernel_id
        self.on_change = on_change
        self.approval_base_url = approval_base_url
        self.comm_id = uuid.uuid4().hex
        self.info: dict[str, Any] = {}
        self.alive = False
        self.hint_stamp: Any = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._client = AsyncKernelClient()
        self._client.load_connection_info(connection_info)  # type: ignore[arg-type]
        self._reader: asyncio.Task[None] | None = None
        self._hello: asyncio.Future[dict[str, Any]] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def open(self) -> dict[str, Any]:
        """Connect, open the comm and wait for the kernel's hello; raises ``KernelGone``."""
        client = self._client
        client.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
        loop = asyncio.get_running_loop()
        self._hello = loop.create_future()
        self._reader = loop.create_task(self._read_iopub())
        await asyncio.sleep(0.1)
        self._send(
            "comm_open",
            {
                "comm_id": self.comm_id,
                "target_name": TARGET,
                "data": {"version": PROTOCOL, "approval_base_url": self.approval_base_url},
            },
        )
        # iopub is a subscription: what the kernel sends before ours has taken hold is
        # lost, the hello included; so ask for it again until it arrives.
        self.alive = True
        deadline = loop.time() + HELLO_TIMEOUT
        while not self._hello.done():
            try:
                self.info = await self.request("hello", timeout=1.0)
                break
            except TimeoutError:
                if loop.time() >= deadline:
                    self.close()
                    raise KernelGone(f"kernel {self.kernel_id} did not answer") from None
            except KernelGone:
                self.close()
                raise
        if self._hello.done() and not self._hello.exception():
            self.info = self._hello.result()
        elif not self.alive:
            raise KernelGone(f"kernel {self.kernel_id} closed the comm")
        return self.info

    def close(self) -> None:
        """Close the comm and the channels (the kernel keeps running)."""
        if self.alive:
            with contextlib.suppress(Exception):
                self._send("comm_close", {"comm_id": self.comm_id, "data": {}})
        self.alive = False
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        self._fail_all(KernelGone(f"the link to kernel {self.kernel_id} was closed"))
        with contextlib.suppress(Exception):
            self._client.stop_channels()

    # ------------------------------------------------------------------ requests
    async def request(
        self, method: str, params: dict[str, Any] | None = None, timeout: float = REQUEST_TIMEOUT
    ) -> Any:
        """Ask the kernel; raises ``KernelRequestError``, ``KernelGone`` or ``TimeoutError``."""
        if not self.alive:
            raise KernelGone(f"kernel {self.kernel_id} is not connected")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        self._send(
            "comm_msg",
            {
                "comm_id": self.comm_id,
                "data": {
                    "kind": "request",
                    "id": request_id,
                    "method": method,
                    "params": params or {},
                },
            },
        )
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiting.pop(request_id, None)

    def _send(self, msg_type: str, content: dict[str, Any]) -> None:
        client = self._client
        msg = client.session.msg(msg_type, content)
        client.shell_channel.send(msg)

    def _fail_all(self, exc: BaseException) -> None:
        for future in list(self._waiting.values()):
            if not future.done():
                future.set_exception(exc)
        self._waiting.clear()
        if self._hello is not None and not self._hello.done():
            self._hello.set_exception(exc)

    # ------------------------------------------------------------------ iopub
    async def _read_iopub(self) -> None:
        client = self._client
        while True:
            try:
                msg = await client.get_iopub_msg(timeout=3600)
            except asyncio.CancelledError:
                raise
            except Exception:  # an idle hour (queue.Empty) or a torn-down socket
                if not client.channels_running:
                    return
                continue
            try:
                self._dispatch(msg)
            except Exception:
                log.exception("polos_nb: bad message from kernel %s", self.kernel_id)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        kind = msg.get("msg_type") or msg.get("header", {}).get("msg_type")
        content = msg.get("content") or {}
        if kind == "status" and content.get("execution_state") == "starting":
            self._gone("the kernel restarted")
            return
        if kind not in ("comm_msg", "comm_close") or content.get("comm_id") != self.comm_id:
            return
        if kind == "comm_close":
            self._gone("the kernel closed the comm (is polos_nb loaded?)")
            return
        data = content.get("data") or {}
        what = data.get("kind")
        if what == "hello":
            self.info = data
            if self._hello is not None and not self._hello.done():
                self._hello.set_result(data)
                for future in list(self._waiting.values()):  # a pending "hello" request
                    if not future.done():
                        future.set_result(data)
            else:
                self.on_change(self, {"reason": "hello", **data})
        elif what == "reply":
            waiting = self._waiting.get(data.get("id"))  # type: ignore[arg-type]
            if waiting is None or waiting.done():
                return
            future = waiting
            if future.done():
                return
            if "error" in data:
                future.set_exception(KernelRequestError(data["error"] or {}))
            else:
                future.set_result(data.get("result"))
        elif what == "changed":
            self.on_change(self, data)

    def _gone(self, why: str) -> None:
        was_alive = self.alive
        self.alive = False
        self._fail_all(KernelGone(f"kernel {self.kernel_id}: {why}"))
        if was_alive:
            self.on_change(self, {"reason": "gone"})
