"""The runtime is composed of parts with declared interfaces (docs/architecture.md, engine/).

Each part (``Waits``, ``Children``, ``Reads``, ``Starts``, ``Live``) reaches its runtime only through ``self.rt``
and only for the names its host protocol in ``engine/_host.py`` declares; the runtime
provides every declared name; and a part works on any host that provides them.
"""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import inspect
import threading
import uuid
from pathlib import Path
from typing import Any, TypeVar

from polos_nb import PolosClient, WorkflowContext, workflow
from polos_nb.engine import _host
from polos_nb.engine._children import Children
from polos_nb.engine._endings import Endings
from polos_nb.engine._live import Live
from polos_nb.engine._reads import Reads
from polos_nb.engine._starts import Starts
from polos_nb.engine._waits import Waits
from polos_nb.engine.journal import Journal, open_journal
from tests.engine.helpers import wait_status

ENGINE = Path(_host.__file__).resolve().parent
PARTS: dict[str, tuple[type, type]] = {
    "_waits": (Waits, _host.WaitsHost),
    "_children": (Children, _host.ChildrenHost),
    "_reads": (Reads, _host.ReadsHost),
    "_starts": (Starts, _host.StartsHost),
    "_live": (Live, _host.LiveHost),
    "_endings": (Endings, _host.EndingsHost),
}
# Parts a part reaches through its host, and the protocol that declares what it uses of them.
SIBLINGS: dict[str, type] = {
    "children": _host.ChildrenOfParts,
    "waits": _host.WaitsOfParts,
    "starts": _host.StartsOfParts,
    "live": _host.LiveOfParts,
}

_T = TypeVar("_T")


def declared(protocol: type) -> set[str]:
    """The names a host protocol declares (its own and its bases'), as written in _host.py."""
    names: set[str] = set()
    for cls in protocol.__mro__:
        if cls.__module__ != _host.__name__:
            continue
        names.update(getattr(cls, "__annotations__", {}))
        names.update(n for n in vars(cls) if not n.startswith("__"))
    return names - _TYPING_INTERNALS


_TYPING_INTERNALS = {"_is_protocol", "_is_runtime_protocol", "_abc_impl"}


def _uses(module: str, class_name: str) -> tuple[set[str], dict[str, set[str]], set[str]]:
    """What a part's class uses: host names (``self.rt.X``), sibling names
    (``self.rt.<part>.Y``), and its own attributes (``self.Z``)."""
    tree = ast.parse((ENGINE / f"{module}.py").read_text())
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name]
    host: set[str] = set()
    siblings: dict[str, set[str]] = {}
    own: set[str] = set()
    for node in ast.walk(cls):
        if not isinstance(node, ast.Attribute):
            continue
        value = node.value
        if isinstance(value, ast.Name) and value.id == "self":
            own.add(node.attr)
        elif (
            isinstance(value, ast.Attribute)
            and value.attr == "rt"
            and isinstance(value.value, ast.Name)
            and value.value.id == "self"
        ):
            host.add(node.attr)
        elif (
            isinstance(value, ast.Attribute)
            and isinstance(value.value, ast.Attribute)
            and value.value.attr == "rt"
            and isinstance(value.value.value, ast.Name)
            and value.value.value.id == "self"
            and value.attr in SIBLINGS
        ):
            siblings.setdefault(value.attr, set()).add(node.attr)
    return host, siblings, own


def test_each_part_uses_only_what_its_host_protocol_declares() -> None:
    for module, (part, protocol) in PARTS.items():
        host, siblings, own = _uses(module, part.__name__)
        methods = {n for n, _ in inspect.getmembers(part, inspect.isfunction)}
        assert own - {"rt"} <= methods, f"{part.__name__} keeps state of its own: {own - methods}"
        assert host, f"{part.__name__} does not reach its host through self.rt"
        undeclared = host - declared(protocol)
        assert not undeclared, f"{part.__name__} uses {undeclared}, not in {protocol.__name__}"
        unused = declared(protocol) - host - set(SIBLINGS)
        assert not unused, (
            f"{protocol.__name__} declares {unused}, which {part.__name__} never uses"
        )
        for sibling, names in siblings.items():
            assert sibling in declared(protocol)
            assert names <= declared(SIBLINGS[sibling]), (part.__name__, sibling, names)


def test_the_parts_are_not_mixins_and_do_not_import_the_runtime() -> None:
    from polos_nb.engine._runtime import Runtime

    for module, (part, _protocol) in PARTS.items():
        assert part not in Runtime.__mro__
        tree = ast.parse((ENGINE / f"{module}.py").read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not any(m and m.endswith("_runtime") for m in imported), (module, imported)


def test_the_runtime_provides_every_declared_name(client: PolosClient) -> None:
    runtime = client.runtime
    for _part, protocol in PARTS.values():
        for name in declared(protocol):
            assert hasattr(runtime, name), f"Runtime lacks {protocol.__name__}.{name}"
    for sibling, protocol in SIBLINGS.items():
        for name in declared(protocol):
            assert callable(getattr(getattr(runtime, sibling), name)), (sibling, name)
    assert isinstance(runtime.waits, Waits) and runtime.waits.rt is runtime
    assert isinstance(runtime.children, Children) and runtime.children.rt is runtime
    assert isinstance(runtime.reads, Reads) and runtime.reads.rt is runtime
    assert isinstance(runtime.starts, Starts) and runtime.starts.rt is runtime
    assert isinstance(runtime.live, Live) and runtime.live.rt is runtime
    assert isinstance(runtime.endings, Endings) and runtime.endings.rt is runtime


class _ReadsOnlyHost:
    """A host for ``Reads`` that is not a runtime: exactly the names ReadsHost declares,
    backed by a real journal and a loop of its own."""

    __slots__ = ("admission", "blocking", "execs", "journal", "loop", "workers")

    def __init__(self, journal: Journal, loop: asyncio.AbstractEventLoop) -> None:
        from polos_nb.engine._admission import Admission

        self.journal = journal
        self.loop = loop
        self.execs: dict[str, Any] = {}
        self.admission = Admission()
        self.blocking = _NothingParked()
        self.workers = _OneOwner()

    async def read(self, future: concurrent.futures.Future[_T]) -> _T:
        return await asyncio.wrap_future(future)

    async def commit_publish(self, topic: str, event: Any, ops: list[Any]) -> None:
        raise AssertionError("not used by these reads")

    async def event_insert(self, *args: Any) -> Any:
        raise AssertionError("not used by these reads")

    def after_publish(self, topic: str, event: Any) -> None:
        raise AssertionError("not used by these reads")


class _OneOwner:
    shared = False


class _NothingParked:
    def blocked_view(self, execution_id: str) -> None:
        return None


async def test_a_part_works_on_any_host_that_provides_its_interface(journal_path: Path) -> None:
    wf_id = f"parts_{uuid.uuid4().hex[:8]}"

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext, payload: dict) -> dict:
        await ctx.step.run("double", lambda: payload["n"] * 2)
        return {"n": payload["n"]}

    client = PolosClient(journal=journal_path)
    try:
        handle = await flow.invoke(client, {"n": 4})
        await wait_status(client, handle.id, "completed")
        expected = await client.list_executions(workflow_id=wf_id)
    finally:
        client.close()
    assert declared(_host.ReadsHost) == set(_ReadsOnlyHost.__slots__) | {
        "read",
        "commit_publish",
        "event_insert",
        "after_publish",
    }

    journal = open_journal(str(journal_path))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        reads = Reads(_ReadsOnlyHost(journal, loop))

        def on_loop(coro: Any) -> Any:
            return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

        listed = await asyncio.to_thread(on_loop, reads.list_executions(workflow_id=wf_id))
        info = await asyncio.to_thread(on_loop, reads.get_execution(handle.id))
        assert [i.id for i in listed] == [i.id for i in expected] == [handle.id]
        assert info.status == "completed" and info.result == {"n": 4}
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        journal.close()
