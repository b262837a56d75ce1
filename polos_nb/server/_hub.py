"""The server extension's view of every run: live kernels and journals at rest.

:class:`PolosHub` keeps a list of *sources*, each a place where runs live:

- a **kernel** source per running kernel that loaded polos_nb: its runs are read by
  asking the kernel over a comm (``_kernels``), because the kernel owns its journal;
- a **journal** source per ``.polos/*.duckdb`` file under the server root that no kernel
  owns: read directly, read-only, for a few milliseconds, or, while another process (a
  script) holds it, by asking that process through the journal's inbox (``_journals``).
  Reads that ask a process run in the background (that process may be slow to answer,
  or not answer at all: the journal then shows as *locked*); the refresh does not wait
  for them, but :meth:`PolosHub.refresh` called by a request does.

It refreshes about once a second (cheap: a directory walk every few seconds and file
times), and at once when a kernel reports a change (a run starting to wait for a person
is pushed by the kernel). Each time what it shows changes, ``version`` goes up and the
browsers waiting in :meth:`wait` (long polling) get the new state.

Answers (from the sidebar, the approval page, or a channel such as Slack) go through
:meth:`answer`: to the owning kernel, into the journal when nobody has it open, or to
the process that holds the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from polos_nb.engine import RunReader
from polos_nb.errors import (
    ApprovalValidationError,
    JournalError,
    JournalLockedError,
    PolosError,
    ResumeError,
)

from ._journals import JournalFile, find_journals
from ._kernels import KernelGone, KernelLink, KernelRequestError

__all__ = ["AnswerError", "PolosHub", "Source"]

log = logging.getLogger(__name__)

TICK = 1.0  # seconds between refreshes
JOURNAL_SCAN_EVERY = 5.0  # seconds between walks of the server root
KERNEL_RESUMMARY_EVERY = 15.0  # a kernel's summary is asked again at least this often
LOCKED_RETRY_EVERY = 10.0  # a journal some other process owns is tried again after this


class AnswerError(Exception):
    """An answer was not delivered: ``status`` is the HTTP status, ``errors`` per field."""

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None) -> None:
        self.status = status
        self.errors = errors or {}
        super().__init__(message)


@dataclass
class Source:
    """Where runs live (see the module docstring). ``status``: ok, busy, locked, error."""

    id: str
    kind: str  # "kernel" | "journal"
    label: str
    journal: str | None = None
    notebook: str | None = None
    kernel_id: str | None = None
    status: str = "ok"
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0
    pending: list[dict[str, Any]] = field(default_factory=list)
    stamp: Any = None  # when its summary was read (kernel: monotonic time; journal: file times)
    held_by: int | None = None  # journal: the process that holds it and answers its reads

    def public(self, root: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "journal": _rel(self.journal, root),
            "notebook": self.notebook,
            "kernel_id": self.kernel_id,
            "status": self.status,
            "error": self.error,
            "counts": self.counts,
            "total": self.total,
            "pending": len(self.pending),
            "held_by": self.held_by,
        }


def _rel(path: str | None, root: str) -> str | None:
    if path is None:
        return None
    try:
        rel = os.path.relpath(path, root)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel.replace(os.sep, "/")


def _notebook_for(journal: str, root: str) -> str | None:
    """The notebook a journal belongs to by polos_nb's default: ``x/.polos/nb.duckdb`` → ``x/nb.ipynb``."""
    folder = os.path.dirname(os.path.dirname(journal))
    stem = os.path.splitext(os.path.basename(journal))[0]
    candidate = os.path.join(folder, stem + ".ipynb")
    return _rel(candidate, root) if os.path.exists(candidate) else None


class PolosHub:
    """See the module docstring. One per Jupyter server (``serverapp``)."""

    def __init__(self, serverapp: Any, *, approval_base_url: str | None = None) -> None:
        self.serverapp = serverapp
        self.root = os.path.realpath(os.path.expanduser(str(serverapp.root_dir)))
        self.approval_base_url = approval_base_url
        self.version = 0
        self.sources: dict[str, Source] = {}
        self.links: dict[str, KernelLink] = {}
        self.journals: dict[str, JournalFile] = {}
        self._pages: dict[tuple[Any, ...], dict[str, Any]] = {}  # last page per runs request
        self._opening: dict[str, asyncio.Task[None]] = {}
        self._failed_hints: dict[str, Any] = {}
        self._dirty_kernels: set[str] = set()
        self._locked_until: dict[str, float] = {}
        self._reading: dict[str, asyncio.Task[None]] = {}  # journal reads asking its holder
        self._journal_paths: list[str] = []
        self._scanned_at = 0.0
        self._published = ""
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(2, thread_name_prefix="polos-hub")
        self._approval_listeners: list[Callable[[dict[str, Any]], None]] = []
        self._seen_approvals: set[tuple[str, str]] = set()
        self.refreshes = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop refreshing and reading kernels. Each task gets ``STOP_SECONDS`` to end
        once cancelled; one that does not (stuck on a kernel or a journal) is left behind
        with a warning rather than holding up the server's shutdown."""
        if self._task is not None:
            await _cancelled(self._task, "the run list's refresh")
            self._task = None
        for path, task in list(self._reading.items()):
            await _cancelled(task, f"the read of journal {path}")
        self._reading.clear()
        for link in list(self.links.values()):
            link.close()
        self.links.clear()
        self._executor.shutdown(wait=False)

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh(settle=False)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("polos_nb: refreshing the run list failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK)

    def poke(self, kernel_id: str | None = None) -> None:
        """Refresh now (``kernel_id``: that kernel's summary is read again)."""
        if kernel_id is not None:
            self._dirty_kernels.add(kernel_id)
        self._wake.set()

    # ------------------------------------------------------------------ waiting for changes
    async def wait(self, since: int, timeout: float) -> int:
        """Return when ``version`` passes ``since`` or after ``timeout`` seconds."""
        if self.version > since:
            return self.version
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            pass
        finally:
            if future in self._waiters:
                self._waiters.remove(future)
        return self.version

    def on_approval(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call ``callback(approval)`` once for each suspension that starts waiting."""
        self._approval_listeners.append(callback)

    # ------------------------------------------------------------------ the state
    def state(self) -> dict[str, Any]:
        sources = sorted(self.sources.values(), key=lambda s: (s.kind != "kernel", s.label))
        return {
            "version": self.version,
            "sources": [s.public(self.root) for s in sources],
            "approvals": self.approvals(),
        }

    def approvals(self) -> list[dict[str, Any]]:
        out = []
        for source in self.sources.values():
            for p in source.pending:
                out.append({**p, "source": source.id, "notebook": source.notebook})
        out.sort(key=lambda a: a.get("created_at") or "")
        return out

    def _publish(self) -> None:
        state = self.state()
        state.pop("version")
        text = json.dumps(state, sort_keys=True, default=str)
        if text == self._published:
            return
        self._published = text
        self.version += 1
        for future in self._waiters:
            if not future.done():
                future.set_result(None)
        self._waiters.clear()
        for approval in state["approvals"]:
            marker = (approval["execution_id"], approval["key"])
            if marker in self._seen_approvals:
                continue
            self._seen_approvals.add(marker)
            for callback in list(self._approval_listeners):
                try:
                    callback(approval)
                except Exception:
                    log.exception("polos_nb: an approval listener failed")

    # ------------------------------------------------------------------ refreshing
    async def refresh(self, *, settle: bool = True) -> None:
        """Bring every source up to date (see the module docstring).

        ``settle``: wait for the reads that ask a journal's holder, too (each is bounded
        by ``_journals.OWNER_TIMEOUT``); the periodic refresh does not.
        """
        self.refreshes += 1
        sessions = await self._sessions()
        await self._refresh_kernels(sessions)
        await self._refresh_journals()
        if settle and self._reading:
            await asyncio.gather(*list(self._reading.values()), return_exceptions=True)
        self._publish()

    async def _sessions(self) -> dict[str, str]:
        """kernel id → notebook path (relative to the root) of the server's sessions."""
        manager = getattr(self.serverapp, "session_manager", None)
        if manager is None:
            return {}
        try:
            sessions = await manager.list_sessions()
        except Exception:
            return {}
        return {
            s["kernel"]["id"]: s.get("path") or s.get("name") or ""
            for s in sessions
            if s.get("kernel")
        }

    def _kernel_manager(self) -> Any:
        return self.serverapp.kernel_manager

    async def _refresh_kernels(self, sessions: dict[str, str]) -> None:
        from polos_nb.notebook._lab import hint_path

        km = self._kernel_manager()
        running = set(km.list_kernel_ids())
        for kernel_id in list(self.links):
            link = self.links[kernel_id]
            if kernel_id not in running or not link.alive:
                link.close()
                del self.links[kernel_id]
                self.sources.pop(f"kernel:{kernel_id}", None)
        for kernel_id in running:
            if kernel_id in self.links or kernel_id in self._opening:
                continue
            try:
                kernel = km.get_kernel(kernel_id)
                hint = hint_path(kernel.connection_file)
                stamp = os.stat(hint).st_mtime_ns
            except (OSError, KeyError, AttributeError, TypeError):
                continue
            if self._failed_hints.get(kernel_id) == stamp:
                continue  # tried this hint already; a new %load_ext writes it again
            self._opening[kernel_id] = asyncio.get_running_loop().create_task(
                self._open_link(kernel_id, kernel, stamp)
            )
        now = time.monotonic()
        for kernel_id, link in list(self.links.items()):
            source_id = f"kernel:{kernel_id}"
            source = self.sources.get(source_id)
            notebook = sessions.get(kernel_id) or link.info.get("notebook")
            journal = link.info.get("journal")
            if source is None:
                source = Source(
                    id=source_id,
                    kind="kernel",
                    label=notebook or f"kernel {kernel_id[:8]}",
                    kernel_id=kernel_id,
                )
                self.sources[source_id] = source
                self._dirty_kernels.add(kernel_id)
            source.notebook = notebook
            source.label = notebook or source.label
            source.journal = _real(journal) if journal and journal != ":memory:" else None
            stale = source.stamp is None or now - source.stamp > KERNEL_RESUMMARY_EVERY
            if kernel_id in self._dirty_kernels or stale:
                self._dirty_kernels.discard(kernel_id)
                await self._summarize_kernel(link, source)

    async def _open_link(self, kernel_id: str, kernel: Any, stamp: Any) -> None:
        link = KernelLink(
            kernel_id,
            kernel.get_connection_info(session=False),
            on_change=self._on_kernel_change,
            approval_base_url=self.approval_base_url,
        )
        try:
            await link.open()
        except Exception as exc:
            log.debug("polos_nb: no comm with kernel %s: %s", kernel_id, exc)
            self._failed_hints[kernel_id] = stamp
        else:
            self.links[kernel_id] = link
            self._failed_hints.pop(kernel_id, None)
            self.poke(kernel_id)
        finally:
            self._opening.pop(kernel_id, None)

    def _on_kernel_change(self, link: KernelLink, data: dict[str, Any]) -> None:
        self.poke(link.kernel_id)

    async def _summarize_kernel(self, link: KernelLink, source: Source) -> None:
        try:
            summary = await link.request("summary")
        except TimeoutError:
            source.status, source.error = (
                "busy",
                "the kernel is busy; its runs show when it is idle",
            )
            return
        except KernelGone:
            source.status, source.error = "error", "the kernel went away"
            return
        except KernelRequestError as exc:
            source.status, source.error = "error", str(exc)
            return
        source.status, source.error = "ok", None
        source.counts = dict(summary.get("counts") or {})
        source.total = int(summary.get("total") or 0)
        source.pending = list(summary.get("pending") or [])
        source.stamp = time.monotonic()

    def _owned_journals(self) -> set[str]:
        return {s.journal for s in self.sources.values() if s.kind == "kernel" and s.journal}

    async def _refresh_journals(self) -> None:
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        if now - self._scanned_at > JOURNAL_SCAN_EVERY:
            self._scanned_at = now
            self._journal_paths = await loop.run_in_executor(
                self._executor, find_journals, self.root
            )
        owned = self._owned_journals()
        at_rest = [p for p in self._journal_paths if _real(p) not in owned]
        wanted = {f"journal:{p}" for p in at_rest}
        for source_id in [s for s in self.sources if s.startswith("journal:")]:
            if source_id not in wanted:
                del self.sources[source_id]
        for path in at_rest:
            source_id = f"journal:{path}"
            file = self.journals.setdefault(path, JournalFile(path))
            source = self.sources.get(source_id)
            if source is None:
                rel = _rel(path, self.root) or path
                notebook = _notebook_for(path, self.root)
                source = Source(
                    id=source_id,
                    kind="journal",
                    label=notebook or rel,
                    journal=path,
                    notebook=notebook,
                )
                self.sources[source_id] = source
            stamp = file.stamp()
            if source.stamp == stamp or self._locked_until.get(path, 0) > now:
                continue
            if path in self._reading:
                continue  # its holder is being asked
            if source.held_by is not None or source.status == "locked":
                self._ask_holder(path, file, source, stamp)
                continue
            try:
                summary = await loop.run_in_executor(self._executor, _read_summary, file, False)
            except JournalLockedError:
                self._ask_holder(path, file, source, stamp)  # a process holds it: ask it
                continue
            except JournalError as exc:
                source.status, source.error = "error", str(exc)
                source.stamp = stamp
                continue
            self._summarized(source, summary, stamp, file.held_by)

    def _ask_holder(self, path: str, file: JournalFile, source: Source, stamp: Any) -> None:
        """Read ``source``'s summary in the background, from the journal or its holder."""
        self._reading[path] = asyncio.get_running_loop().create_task(
            self._read_from_holder(path, file, source, stamp)
        )

    async def _read_from_holder(
        self, path: str, file: JournalFile, source: Source, stamp: Any
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            summary = await loop.run_in_executor(self._executor, _read_summary, file, True)
        except JournalLockedError as exc:
            owner = f"process {exc.pid}" if exc.pid is not None else "another process"
            source.status = "locked"
            source.error = (
                f"{owner} has this journal open and did not answer within "
                f"{file.owner_timeout:g} s (it may be busy, or not a polos_nb engine); "
                "its runs show here once it answers or exits"
            )
            source.held_by, source.pending = None, []
            self._locked_until[path] = time.monotonic() + LOCKED_RETRY_EVERY
        except JournalError as exc:
            source.status, source.error = "error", str(exc)
            source.stamp = stamp
        except Exception:
            log.exception("polos_nb: reading the journal %s failed", path)
        else:
            self._summarized(source, summary, stamp, file.held_by)
        finally:
            self._reading.pop(path, None)
        self._publish()

    def _summarized(
        self, source: Source, summary: dict[str, Any], stamp: Any, held_by: Any
    ) -> None:
        source.status, source.error = "ok", None
        source.held_by = held_by
        source.counts = dict(summary["counts"])
        source.total = int(summary["total"])
        source.pending = list(summary["pending"])
        source.stamp = stamp

    # ------------------------------------------------------------------ reading one source
    def unreadable(self) -> list[Source]:
        """The journals whose runs cannot be shown now (a process holds one and does not
        answer, or it cannot be read)."""
        return [s for s in self.sources.values() if s.kind == "journal" and s.status != "ok"]

    def source(self, source_id: str) -> Source:
        source = self.sources.get(source_id)
        if source is None:
            raise AnswerError(404, f"No such source {source_id!r} (it may have closed).")
        return source

    async def runs(
        self, source_id: str, status: str | None, offset: int, limit: int
    ) -> dict[str, Any]:
        """A page of a source's runs.

        A kernel busy with a long cell, a kernel not connected yet, or a journal some process
        holds for a moment is not an error for a list: the last page read for the same
        request is given again (or an empty one), with ``unavailable`` saying why.
        """
        source = self.source(source_id)
        params = {"status": status, "offset": offset, "limit": limit}
        key = (source_id, status, offset, limit)
        try:
            if source.kind == "kernel":
                page = await self._ask(source, "runs", params)
            else:
                file = self.journals[str(source.journal)]
                page = await self._in_thread(file.runs, status, offset, limit)
        except AnswerError as exc:
            if exc.status not in (409, 503):
                raise
            last = self._pages.get(key) or {
                "total": source.total,
                "matching": 0,
                "counts": dict(source.counts),
                "offset": offset,
                "runs": [],
            }
            return {"source": source_id, **last, "unavailable": str(exc)}
        if len(self._pages) > 256:
            self._pages.clear()
        self._pages[key] = page
        return {"source": source_id, **page}

    async def run(self, source_id: str, run_id: str) -> dict[str, Any]:
        source = self.source(source_id)
        if source.kind == "kernel":
            detail = await self._ask(source, "run", {"id": run_id})
        else:
            file = self.journals[str(source.journal)]
            detail = await self._in_thread(file.run, run_id)
        if detail is None:
            raise AnswerError(404, f"No run {run_id!r} in {source.label}.")
        return {"source": source_id, "notebook": source.notebook, **detail}

    async def _ask(self, source: Source, method: str, params: dict[str, Any]) -> Any:
        link = self.links.get(str(source.kernel_id))
        if link is None:
            raise AnswerError(409, f"The kernel of {source.label} is not connected.")
        try:
            return await link.request(method, params)
        except TimeoutError:
            raise AnswerError(
                503, f"The kernel of {source.label} is busy; try again when its cell has finished."
            ) from None
        except KernelGone as exc:
            raise AnswerError(409, str(exc)) from None
        except KernelRequestError as exc:
            status = 400 if exc.errors or exc.type == "UserError" else 500
            if exc.type == "ExecutionNotFoundError":
                status = 404
            elif exc.type == "ResumeError":  # nothing waits there (any more)
                status = 409
            raise AnswerError(status, str(exc), exc.errors) from None

    async def _in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except ApprovalValidationError as exc:
            raise AnswerError(400, str(exc), exc.errors) from None
        except JournalLockedError as exc:
            raise AnswerError(409, str(exc)) from None
        except ResumeError as exc:  # nothing waits there (any more): answered, or ended
            raise AnswerError(409, str(exc)) from None
        except PolosError as exc:
            status = 404 if type(exc).__name__ == "ExecutionNotFoundError" else 400
            raise AnswerError(status, str(exc)) from None
        except ValueError as exc:
            raise AnswerError(400, str(exc)) from None

    # ------------------------------------------------------------------ answering
    def find_approval(self, run_id: str, key: str) -> dict[str, Any] | None:
        """The waiting suspension ``key`` of run ``run_id`` (its root or its own id)."""
        for approval in self.approvals():
            if approval["key"] == key and run_id in (
                approval["root_execution_id"],
                approval["execution_id"],
            ):
                return approval
        return None

    async def answer(
        self,
        execution_id: str,
        key: str,
        decision: str = "submit",
        data: dict[str, Any] | None = None,
        *,
        source_id: str | None = None,
    ) -> dict[str, Any]:
        """Answer a suspension wherever its run lives; returns the data delivered.

        ``decision`` is ``approve``, ``always``, ``reject`` (approval forms) or ``submit``.
        Raises :class:`AnswerError` (``status`` 400 with per-field ``errors`` when the
        answer does not fit the form; 404 when nothing waits; 409 when the suspension was
        answered already or the run ended, or when the process that holds the journal did
        not answer; 503 when the kernel is busy).
        """
        if decision not in ("approve", "always", "reject", "submit"):
            raise AnswerError(
                400, f"Unknown decision {decision!r}: use approve, always, reject or submit."
            )
        approval = self.find_approval(execution_id, key)
        if source_id is None:
            if approval is None:
                await self.refresh()
                approval = self.find_approval(execution_id, key)
            if approval is None:
                raise AnswerError(
                    404,
                    f"Nothing waits at {key!r} in run {execution_id}: it was answered, or the run ended.",
                )
            source_id = str(approval["source"])
        source = self.source(source_id)
        target = approval["execution_id"] if approval else execution_id
        params = {"execution_id": target, "key": key, "decision": decision, "data": data or {}}
        if source.kind == "kernel":
            result = await self._ask(source, "answer", params)
            self.poke(source.kernel_id)
        else:
            file = self.journals[str(source.journal)]
            result = await self._in_thread(file.answer, target, key, decision, data or {})
            source.stamp = None
            self.poke()
        return {"delivered": result, "source": source_id}


def _real(path: str) -> str:
    return os.path.realpath(path)


def _read_summary(file: JournalFile, ask_owner: bool) -> dict[str, Any]:
    return dict(file.read(("summary",), _summary_reader, ask_owner=ask_owner))


def _summary_reader(reads: RunReader) -> dict[str, Any]:
    from polos_nb.notebook._lab_reads import summary

    return summary(reads)


STOP_SECONDS = 5.0


async def _cancelled(task: asyncio.Task[Any], what: str) -> None:
    """Cancel ``task`` and wait for it to end, at most ``STOP_SECONDS``."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=STOP_SECONDS)
    if not done:
        log.warning("polos_nb: %s did not stop within %.0f s; left behind", what, STOP_SECONDS)
        return
    with contextlib.suppress(BaseException):
        task.result()
