"""The channel dispatcher: tells channels about suspensions and answers, forwards output.

One dispatcher per runtime (a runtime extension, see ``polos_nb.engine._extensions``),
living on the engine loop. It watches every journaled event of its journal:

- ``suspend_<key>`` (published once the suspension is committed): every channel that
  applies is notified concurrently; failures are logged and never fail the run. What the
  channels return is journaled as ``notification_meta_<key>`` on the run's topic.
- ``resume_<key>``: the channels told about that suspension get ``notify_answered`` (a
  Slack message's buttons become "Approved by …"), whoever answered and wherever.
- a root run's start: if the run was started from a channel (``channel_context``, e.g. a
  Slack thread), its output goes back there as it happens (``send_output``).

Which channels apply to a suspension: the suspending workflow's own ``channels=``, else
its root workflow's, else the client's (``Polos(channels=...)``, ``PolosClient``,
``Worker``) plus, as upstream, a ``SlackChannel`` from ``$SLACK_BOT_TOKEN`` when none of
them is a Slack channel. The channel a run was started from is always added, so its
approvals reach the originating thread.

When the journal is opened, suspensions left open without a notification (the process
died first, or no channel was configured then) are notified, and runs started from a
channel that are still going get their output forwarded again from then on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections.abc import Coroutine
from typing import Any

from polos_nb import _serde
from polos_nb.contracts import STEP_FINISH, TOOL_CALL, TOOL_CALL_START
from polos_nb.engine import StreamEvent, add_runtime_extension, get_all_workflows, get_workflow

from ._channel import Channel, ChannelContext, notification_from_suspend
from ._slack import SlackChannel, slack_channel_from_env

__all__ = ["ChannelDispatcher", "dispatcher_for"]

log = logging.getLogger("polos_nb.channels")

NOTIFY_TIMEOUT = 60.0
"""Seconds one channel may take to notify before it counts as failed."""

_DISPATCHERS: weakref.WeakKeyDictionary[Any, ChannelDispatcher] = weakref.WeakKeyDictionary()
_RUN_TYPES = ("workflow", "agent", "tool")
_STARTS = frozenset(f"{t}_start" for t in _RUN_TYPES)
_ENDS = frozenset(f"{t}_{e}" for t in _RUN_TYPES for e in ("finish", "error", "cancel"))
_PER_STEP = (TOOL_CALL_START, TOOL_CALL, STEP_FINISH)


def dispatcher_for(runtime: Any) -> ChannelDispatcher | None:
    """The dispatcher watching ``runtime`` (a ``client.runtime``)."""
    return _DISPATCHERS.get(runtime)


def _root_of(topic: str) -> tuple[str, str] | None:
    if not topic.startswith("workflow/"):
        return None
    root_wf, _, root_id = topic[len("workflow/") :].rpartition("/")
    return (root_wf, root_id) if root_wf and root_id else None


def _meta_of(event: StreamEvent) -> dict[str, Any]:
    data = event.data if isinstance(event.data, dict) else {}
    meta = data.get("_metadata")
    return meta if isinstance(meta, dict) else {}


class ChannelDispatcher:
    """Connects one runtime's suspensions, answers and output to its channels."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self._tasks: set[asyncio.Task[Any]] = set()
        self._notified: dict[tuple[str, str], asyncio.Future[list[dict[str, Any]]]] = {}
        self._answered_by: dict[tuple[str, str], str] = {}
        self._bridged: set[str] = set()
        self._env_slack: tuple[str, SlackChannel] | None = None
        self._closed = False
        # Start and finish events are read for their type and _metadata only.
        self._unsubscribe = runtime.subscribe_all(self._on_event, payloads=False)
        runtime.loop.call_soon_threadsafe(self._spawn, self._catch_up())

    # ------------------------------------------------------------------ lifetime
    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        if self._closed:
            coro.close()
            return
        task = self.runtime.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Stop watching; cancel notifications and output forwarding still under way."""
        self._closed = True
        self._unsubscribe()
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until no notification or answer is being delivered (output forwarding aside)."""
        while True:
            busy = [t for t in self._tasks if not t.done() and not getattr(t, "_bridge", False)]
            if not busy:
                return
            await asyncio.gather(*busy, return_exceptions=True)

    def note_answer(self, root_execution_id: str, step_key: str, answered_by: str) -> None:
        """Remember who is answering (e.g. ``<@U123>`` from a Slack click) for the message update."""
        self._answered_by[(root_execution_id, step_key)] = answered_by

    # ------------------------------------------------------------------ which channels
    def global_channels(self) -> list[Any]:
        """The clients' channels, plus a Slack channel from ``$SLACK_BOT_TOKEN`` if none is Slack."""
        found: list[Any] = []
        for channel in self.runtime.channels:
            if channel not in found:
                found.append(channel)
        if not any(c.id == "slack" for c in found):
            env = self._slack_from_env()
            if env is not None:
                found.append(env)
        return found

    def _slack_from_env(self) -> SlackChannel | None:
        token = os.environ.get("SLACK_BOT_TOKEN")
        if not token:
            return None
        if self._env_slack is None or self._env_slack[0] != token:
            try:
                channel = slack_channel_from_env()
            except Exception as exc:
                log.warning("SLACK_BOT_TOKEN is set but unusable: %s", exc)
                return None
            if channel is None:
                return None
            self._env_slack = (token, channel)
        return self._env_slack[1]

    def channels_for(self, workflow_id: str | None, root_workflow_id: str | None) -> list[Any]:
        """The channels a suspension of ``workflow_id`` (in a ``root_workflow_id`` tree) goes to."""
        for wf_id in (workflow_id, root_workflow_id):
            wf = get_workflow(wf_id) if wf_id else None
            own = getattr(wf, "channels", None)
            if own is not None:
                return list(own)
        return self.global_channels()

    def channel_by_id(self, channel_id: str, root_workflow_id: str | None = None) -> Any | None:
        """The channel with id ``channel_id``: the root workflow's own first, then the clients'."""
        wf = get_workflow(root_workflow_id) if root_workflow_id else None
        for channel in [*(getattr(wf, "channels", None) or []), *self.global_channels()]:
            if channel.id == channel_id:
                return channel
        return None

    def _any_channels(self) -> bool:
        if self.global_channels():
            return True
        return any(getattr(wf, "channels", None) for wf in get_all_workflows().values())

    # ------------------------------------------------------------------ events
    def _on_event(self, event: StreamEvent) -> None:
        if event.sequence_id is None:  # live progress, not journaled: nothing to act on
            return
        kind = event.event_type or ""
        root = _root_of(event.topic)
        if root is None or self._closed:
            return
        root_wf, root_id = root
        if kind.startswith("suspend_"):
            key = kind[len("suspend_") :]
            if (root_id, key) in self._notified:
                return
            done: asyncio.Future[list[dict[str, Any]]] = self.runtime.loop.create_future()
            self._notified[(root_id, key)] = done
            self._spawn(self._notify(event, root_wf, root_id, key, done))
        elif kind.startswith("resume_"):
            self._spawn(self._answered(event, root_wf, root_id, kind[len("resume_") :]))
        elif _meta_of(event).get("execution_id") == root_id:
            if kind in _STARTS:
                if self._bridge_candidates(root_wf):
                    self._bridge(event.topic, root_wf, root_id)
            elif kind in _ENDS:
                for pair in [p for p in self._notified if p[0] == root_id]:
                    self._notified.pop(pair, None)

    # ------------------------------------------------------------------ suspensions
    async def _notify(
        self,
        event: StreamEvent,
        root_wf: str,
        root_id: str,
        key: str,
        done: asyncio.Future[list[dict[str, Any]]],
        skip: set[str] | None = None,
    ) -> None:
        entries: list[dict[str, Any]] = []
        try:
            channels = self.channels_for(_meta_of(event).get("workflow_id"), root_wf)
            context = None
            if channels or self.global_channels():
                context = await self.runtime.channel_context(root_id)
            if context:
                origin = self.channel_by_id(str(context.get("channel_id")), root_wf)
                if origin is not None and origin not in channels:
                    channels.append(origin)
            channels = [c for c in channels if not skip or c.id not in skip]
            if not channels:
                return
            data = event.data if isinstance(event.data, dict) else {}
            notification = notification_from_suspend(
                data,
                root_workflow_id=root_wf,
                root_execution_id=root_id,
                step_key=key,
                channel_context=context,
            )
            notify_config = data.get("_notify") if isinstance(data.get("_notify"), dict) else {}
            results = await asyncio.gather(
                *(self._notify_one(c, notification, notify_config or {}, context) for c in channels)
            )
            entries = [r for r in results if r is not None]
            if entries:
                await self.runtime.publish(
                    event.topic, f"notification_meta_{key}", {"channels": entries}
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("notifying the channels of run %s (%s) failed", root_id, key)
        finally:
            if not done.done():
                done.set_result(entries)

    async def _notify_one(
        self,
        channel: Channel,
        notification: Any,
        notify_config: dict[str, Any],
        context: dict[str, Any] | None,
    ) -> dict[str, Any] | None:
        overrides = notify_config.get(channel.id)
        overrides = dict(overrides) if isinstance(overrides, dict) else None
        if context and context.get("channel_id") == channel.id:
            source = context.get("source") if isinstance(context.get("source"), dict) else {}
            overrides = {**(source or {}), **(overrides or {})}
        if overrides is not None:
            notification = notification.model_copy(update={"channel_overrides": overrides})
        try:
            meta = await asyncio.wait_for(channel.notify(notification), NOTIFY_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "Channel %r could not notify run %s (%s): %s",
                channel.id,
                notification.execution_id,
                notification.step_key,
                exc,
            )
            return None
        return {"channelId": channel.id, **(meta or {})}

    async def _answered(self, event: StreamEvent, root_wf: str, root_id: str, key: str) -> None:
        try:
            pending = self._notified.pop((root_id, key), None)
            answered_by = self._answered_by.pop((root_id, key), None)
            if pending is not None:
                entries = await asyncio.wait_for(asyncio.shield(pending), NOTIFY_TIMEOUT * 2)
            elif self._any_channels():
                entries = await self._journaled_meta(event.topic, key)
            else:
                return
            if not entries:
                return
            data = event.data if isinstance(event.data, dict) else {}
            response = {k: v for k, v in data.items() if k != "_metadata"}
            if set(response) == {"value"}:
                response = response["value"]
            for entry in entries:
                channel = self.channel_by_id(str(entry.get("channelId")), root_wf)
                if channel is None or not hasattr(channel, "notify_answered"):
                    continue
                meta = {k: v for k, v in entry.items() if k != "channelId"}
                try:
                    await asyncio.wait_for(
                        channel.notify_answered(meta, response, answered_by), NOTIFY_TIMEOUT
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning(
                        "Channel %r could not update its message for run %s (%s): %s",
                        channel.id,
                        root_id,
                        key,
                        exc,
                    )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("updating the channels of run %s (%s) failed", root_id, key)

    async def _journaled_meta(self, topic: str, key: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        for event in await self.runtime.read_topic(topic):
            if event.event_type == f"notification_meta_{key}" and isinstance(event.data, dict):
                entries += [e for e in event.data.get("channels") or [] if isinstance(e, dict)]
        return entries

    # ------------------------------------------------------------------ output
    def _bridge_candidates(self, root_wf: str) -> bool:
        wf = get_workflow(root_wf)
        return bool(getattr(wf, "channels", None)) or bool(self.global_channels())

    def _bridge(self, topic: str, root_wf: str, root_id: str) -> None:
        """Forward the output of run ``root_id`` to the channel it was started from, if any.

        Subscribes at once (so no event is missed), then looks the run's channel up.
        """
        if root_id in self._bridged or self._closed:
            return
        self._bridged.add(root_id)
        inbox: asyncio.Queue[StreamEvent] = asyncio.Queue()
        unsubscribe = self.runtime.subscribe(topic, inbox.put_nowait)
        self._spawn(self._forward(inbox, unsubscribe, root_wf, root_id))

    async def _forward(
        self,
        inbox: asyncio.Queue[StreamEvent],
        unsubscribe: Any,
        root_wf: str,
        root_id: str,
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            task._bridge = True  # type: ignore[attr-defined]
        try:
            context = await self.runtime.channel_context(root_id)
            if not context:
                return
            channel_id = str(context.get("channel_id"))
            channel = self.channel_by_id(channel_id, root_wf)
            if channel is None:
                log.error(
                    "Run %s was started from channel %r, but no channel with that id is "
                    "configured: give Polos/PolosClient(channels=[...]) one (for Slack, set "
                    "SLACK_BOT_TOKEN). Its output is not sent back.",
                    root_id,
                    channel_id,
                )
                return
            mode = getattr(channel, "output_mode", None) or "per_step"
            if mode == "none":
                return
            where = ChannelContext.model_validate(context)
            calls_shown: set[Any] = set()
            while True:
                event = await inbox.get()
                kind = event.event_type or ""
                ended = kind in _ENDS and _meta_of(event).get("execution_id") == root_id
                wanted = ended or (mode == "per_step" and kind in _PER_STEP)
                if ended and mode == "final" and kind.endswith("_cancel"):
                    wanted = False
                if kind == TOOL_CALL_START and isinstance(event.data, dict):
                    call = (event.data.get("step"), event.data.get("call_id"))
                    if call in calls_shown:  # announced again when the run goes on after a wait
                        wanted = False
                    calls_shown.add(call)
                if wanted:
                    try:
                        await channel.send_output(where, event)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        log.warning(
                            "Channel %r could not send output of run %s: %s",
                            channel_id,
                            root_id,
                            exc,
                        )
                if ended:
                    return
        finally:
            unsubscribe()
            self._bridged.discard(root_id)

    # ------------------------------------------------------------------ after a restart
    async def _catch_up(self) -> None:
        if not self._any_channels():
            return
        journal = self.runtime.journal
        try:
            rows = await self.runtime.read(journal.pending_suspensions())
            runs = await self.runtime.channel_runs(active_only=True)
        except Exception:
            log.exception("reading the journal's open suspensions failed")
            return
        for row in rows:
            exec_id, key, wf_id = row.execution_id, row.step_key, row.workflow_id
            root_id, root_wf = row.root_execution_id, row.root_workflow_id
            if (root_id, key) in self._notified or get_workflow(wf_id) is None:
                continue  # notified live already / its workflow (and channels) not defined here
            topic = f"workflow/{root_wf}/{root_id}"
            try:
                events = await self.runtime.read_topic(topic)
            except Exception:
                log.exception("reading the notifications of %s failed", root_id)
                continue
            told: set[str] = set()
            for ev in events:
                meta = ev.data
                if ev.event_type == f"notification_meta_{key}" and isinstance(meta, dict):
                    told |= {str(e.get("channelId")) for e in meta.get("channels") or []}
            event = StreamEvent(
                id="catch-up",
                sequence_id=0,
                topic=topic,
                event_type=f"suspend_{key}",
                data={
                    **(_as_dict(_serde.loads(row.data, strict=False)) if row.data else {}),
                    "_metadata": {"execution_id": exec_id, "workflow_id": wf_id},
                },
                created_at=self.runtime.clock.now(),
            )
            done: asyncio.Future[list[dict[str, Any]]] = self.runtime.loop.create_future()
            self._notified[(root_id, key)] = done
            await self._notify(event, root_wf, root_id, key, done, skip=told)
        for run in runs:
            root_id, root_wf = run["id"], run["root_workflow_id"]
            self._bridge(f"workflow/{root_wf}/{root_id}", root_wf, root_id)


def _as_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _attach(runtime: Any) -> ChannelDispatcher:
    dispatcher = ChannelDispatcher(runtime)
    _DISPATCHERS[runtime] = dispatcher
    return dispatcher


add_runtime_extension(_attach)
