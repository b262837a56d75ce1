"""Patterns of upstream's python-examples that the projects under ``projects/`` do not run.

A sweep ran every example of upstream's ``python-examples`` (imports changed to
``polos_nb``, models scripted) against polos_nb; the examples kept as projects are run by
``test_projects*.py``. These tests keep what the others ran and no project covers,
written the way the examples write it: runtime queue limits given at ``invoke`` (12),
fire-and-forget ``ctx.step.batch_invoke`` (13), chained suspends answered from the run's
stream (09), a new stream per step of a form seeing the pending suspension (09), and
leaving ``Polos()`` after breaking out of a stream without an error printed (20).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from pydantic import BaseModel

from polos_nb import Polos, WorkflowContext, workflow
from polos_nb.features import events
from polos_nb.types.types import BatchWorkflowInput

from .conftest import uid

ROOT = Path(__file__).resolve().parents[2]


# -- 12 shared queues: the queue and its limit given when invoking -------------------


class SlowPayload(BaseModel):
    workflow_id: int
    sleep_seconds: float = 0.3


spans: dict[int, tuple[float, float]] = {}


@workflow(id=uid("slow_workflow"))
async def slow_workflow(ctx: WorkflowContext, payload: SlowPayload) -> dict:
    start = time.monotonic()
    await asyncio.sleep(payload.sleep_seconds)
    spans[payload.workflow_id] = (start, time.monotonic())
    return {"workflow_id": payload.workflow_id}


def overlapping(ids: list[int]) -> bool:
    ordered = sorted(spans[i] for i in ids)
    return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(ordered))


async def test_a_queue_limit_given_at_invoke_holds_the_runs_back() -> None:
    async with Polos() as polos:
        for ids, queue_name, limit in (
            ([1, 2, 3], uid("sequential-demo-queue"), 1),
            ([10, 11, 12], uid("parallel-demo-queue"), 3),
        ):
            handles = [
                await polos.invoke(
                    workflow_id=slow_workflow.id,
                    payload={"workflow_id": i, "sleep_seconds": 0.3},
                    queue_name=queue_name,
                    queue_concurrency_limit=limit,
                )
                for i in ids
            ]
            for handle in handles:
                while (await polos.get_execution(handle.id)).get("status") != "completed":
                    await asyncio.sleep(0.05)
    assert not overlapping([1, 2, 3])  # one at a time
    assert overlapping([10, 11, 12])  # side by side


# -- 13 parallel review: fire-and-forget children of a workflow ---------------------


@workflow(id=uid("background_task"))
async def background_task(ctx: WorkflowContext, payload: dict) -> dict:
    return {"task_id": payload.get("task_id"), "status": "completed"}


@workflow(id=uid("fire_and_forget_batch"))
async def fire_and_forget_batch(ctx: WorkflowContext, payload: dict) -> dict:
    task_requests = [
        BatchWorkflowInput(id=background_task.id, payload={"task_id": task["id"]})
        for task in payload["tasks"]
    ]
    handles = await ctx.step.batch_invoke("launch_background_tasks", task_requests)
    return {"launched": len(handles), "execution_ids": [h.id for h in handles]}


async def test_batch_invoke_in_a_workflow_returns_handles_of_runs_that_go_on() -> None:
    tasks = [{"id": f"task-{i}"} for i in range(4)]
    async with Polos() as polos:
        result = await fire_and_forget_batch.run(polos, {"tasks": tasks})
        assert result["launched"] == 4
        outputs = []
        for execution_id in result["execution_ids"]:
            for _ in range(200):
                execution = await polos.get_execution(execution_id)
                if execution.get("status") == "completed":
                    break
                await asyncio.sleep(0.05)
            outputs.append(execution.get("result", {}).get("task_id"))
    assert outputs == [task["id"] for task in tasks]


# -- 09 suspend/resume: a form in three suspends ------------------------------------


@workflow(id=uid("multi_step_form"))
async def multi_step_form(ctx: WorkflowContext, payload: dict) -> dict:
    collected = {}
    for number, key in enumerate(("personal_info", "address_info", "preferences"), 1):
        answer = await ctx.step.suspend(
            key,
            data={"step": number, "total_steps": 3, "prompt": f"Please provide {key}"},
        )
        collected.update(answer.get("data", {}))
    return {"form_id": payload["form_id"], "fields_count": len(collected), **collected}


ANSWERS = {
    "personal_info": {"first_name": "John", "last_name": "Doe"},
    "address_info": {"city": "San Francisco"},
    "preferences": {"newsletter": True},
}


async def test_chained_suspends_answered_from_the_runs_stream() -> None:
    async with Polos() as polos:
        handle = await multi_step_form.invoke(polos, {"form_id": "FORM-001"})
        prompts = []
        async for event in events.stream_workflow(polos, handle.root_workflow_id, handle.id):
            if event.event_type.startswith("suspend_"):
                step_key = event.event_type[len("suspend_") :]
                prompts.append((event.data.get("step"), event.data.get("prompt")))
                await polos.resume(
                    suspend_workflow_id=handle.root_workflow_id,
                    suspend_execution_id=handle.id,
                    suspend_step_key=step_key,
                    data=ANSWERS[step_key],
                )
        execution = await polos.get_execution(handle.id)
    assert [step for step, _ in prompts] == [1, 2, 3]
    assert execution.get("status") == "completed"
    assert execution.get("result") == {
        "form_id": "FORM-001",
        "fields_count": 4,
        "first_name": "John",
        "last_name": "Doe",
        "city": "San Francisco",
        "newsletter": True,
    }


async def test_a_new_stream_per_step_shows_the_pending_suspend() -> None:
    # Example 09's loop: for each step of the form, open the run's stream, take the
    # first suspend event it gives, answer the step.
    async with Polos() as polos:
        handle = await multi_step_form.invoke(polos, {"form_id": "FORM-002"})
        shown = []
        for step_key in ("personal_info", "address_info", "preferences"):
            async for event in events.stream_workflow(polos, handle.root_workflow_id, handle.id):
                if event.event_type.startswith("suspend_"):
                    shown.append(event.data.get("step"))
                    break
            await polos.resume(
                suspend_workflow_id=handle.root_workflow_id,
                suspend_execution_id=handle.id,
                suspend_step_key=step_key,
                data=ANSWERS[step_key],
            )
        while (await polos.get_execution(handle.id)).get("status") != "completed":
            await asyncio.sleep(0.05)
    assert shown == [1, 2, 3]


# -- 17, 20, 21: break out of the stream, then leave `async with Polos()` -----------


def test_leaving_polos_after_breaking_out_of_a_stream_prints_no_error(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import asyncio

        from polos_nb import Polos, WorkflowContext, workflow
        from polos_nb.features import events


        @workflow(id="order_processing_workflow")
        async def order_processing_workflow(ctx: WorkflowContext, payload: dict) -> dict:
            resume_data = await ctx.step.suspend("fraud_review", data={"amount": 1500})
            return {"approved": resume_data.get("data", {}).get("approved", False)}


        async def main():
            async with Polos(log_file="polos.log") as polos:
                handle = await order_processing_workflow.invoke(polos, {})
                async for event in events.stream_workflow(
                    polos, handle.root_workflow_id, handle.id
                ):
                    if event.event_type.startswith("suspend_"):
                        print("FRAUD REVIEW REQUIRED", event.data.get("amount"))
                        break


        if __name__ == "__main__":
            asyncio.run(main())
        """
    )
    (tmp_path / "main.py").write_text(script)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "POLOS_JOURNAL": str(tmp_path / "j.duckdb")}
    proc = subprocess.run(
        [sys.executable, "main.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "FRAUD REVIEW REQUIRED 1500" in proc.stdout
    assert proc.stderr == ""
