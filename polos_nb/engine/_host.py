"""What the runtime's mixins rely on, declared for the type checker.

``WaitsMixin``, ``ChildrenMixin`` and ``ReadsMixin`` are parts of :class:`Runtime`: their
methods use attributes and methods that ``Runtime`` (or a sibling mixin) defines. They
inherit from :class:`RuntimeHost`, which declares exactly those names with their types so
that mypy checks every use. The declarations exist only while type checking; at run time
``RuntimeHost`` is an empty class and every name resolves to the real definition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures
    import datetime as dt

    from polos_nb._clock import Clock

    from ._admission import Admission
    from ._blocking import Blocking
    from ._context import WorkflowContext
    from ._records import Exec, Wait
    from ._types import StreamEvent
    from ._workflow import Workflow
    from .journal import Insert, Journal, Update

__all__ = ["RuntimeHost"]

_T = TypeVar("_T")


class RuntimeHost:
    """Names the mixins use; ``Runtime`` and the sibling mixins define them."""

    if TYPE_CHECKING:
        # Defined by Runtime (polos_nb/engine/_runtime.py).
        clock: Clock
        journal: Journal
        loop: asyncio.AbstractEventLoop
        execs: dict[str, Exec]
        default_client: Any
        admission: Admission
        blocking: Blocking
        _topic_seq: dict[str, int]
        _topic_waits: dict[str, set[tuple[str, str]]]
        _batches_done: set[tuple[str, str]]

        async def commit(self, ops: list[Any]) -> None: ...

        async def commit_publish(self, topic: str, event: StreamEvent, ops: list[Any]) -> None: ...

        async def read(self, future: concurrent.futures.Future[_T]) -> _T: ...

        def step_insert(
            self,
            ex: Exec,
            key: str,
            position: int | None,
            kind: str,
            attempt: int,
            status: str,
            input_hash: str | None,
            output: str | None,
            error: str | None,
            state: str | None,
            started: dt.datetime | None,
            ended: dt.datetime,
        ) -> Insert: ...

        def _status_op(self, ex: Exec, status: str, **extra: Any) -> Update: ...

        async def _topic_next(self, topic: str) -> int: ...

        async def event_insert(
            self, topic: str, event_type: str | None, data_json: str, execution_id: str | None
        ) -> tuple[Insert, StreamEvent]: ...

        def _lifecycle_event(
            self, ex: Exec, event_type: str, data: dict[str, Any]
        ) -> tuple[Insert, StreamEvent]: ...

        def _emit(self, event: StreamEvent) -> None: ...

        def after_publish(self, topic: str, event: StreamEvent) -> None: ...

        def schedule(self, ex: Exec) -> bool: ...

        async def _load(self, ex: Exec) -> None: ...

        async def _finish(
            self,
            ex: Exec,
            status: str,
            *,
            result: str | None = None,
            error: str | None = None,
            ctx: WorkflowContext | None = None,
        ) -> None: ...

        def new_exec(
            self,
            wf_id: str,
            workflow_type: str,
            payload_json: str | None,
            *,
            parent: Exec | None = None,
            parent_step_key: str | None = None,
            batch_index: int | None = None,
            initial_state_json: str | None = None,
            queue_name: str | None = None,
            concurrency_key: str | None = None,
            session_id: str | None = None,
            user_id: str | None = None,
            run_timeout_seconds: float | None = None,
        ) -> tuple[Exec, Insert]: ...

        def prepare(
            self, workflow: Any, payload: Any, initial_state: Any
        ) -> tuple[Workflow, str | None, str | None]: ...

        # Defined by WaitsMixin (polos_nb/engine/_waits.py).
        def _wait_insert(self, ex: Exec, wait: Wait, now: dt.datetime) -> Insert: ...

        def _resolve_ops(
            self,
            ex: Exec,
            wait: Wait,
            ops: list[Any],
            *,
            output: str | None = None,
            error: str | None = None,
        ) -> None: ...

        # Defined by ChildrenMixin (polos_nb/engine/_children.py).
        async def _check_children_done(self, parent: Exec, wait: Wait) -> None: ...
