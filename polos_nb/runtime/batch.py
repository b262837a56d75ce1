"""``polos.runtime.batch`` under its upstream path: start several runs from outside a workflow.

Inside a workflow use ``ctx.step.batch_invoke`` / ``ctx.step.batch_agent_invoke``, which
are journaled steps.
"""

from __future__ import annotations

from typing import Any

from polos_nb.engine import BatchWorkflowInput, ExecutionHandle, PolosClient

__all__ = ["batch_agent_invoke", "batch_invoke"]


async def batch_invoke(
    client: PolosClient,
    workflows: list[BatchWorkflowInput],
    session_id: str | None = None,
    user_id: str | None = None,
) -> list[ExecutionHandle]:
    """Start one run per ``BatchWorkflowInput(id=..., payload=...)``; their handles, in order.

    The same as ``client.batch_invoke(workflows, session_id=..., user_id=...)``.
    """
    return await client.batch_invoke(workflows, session_id=session_id, user_id=user_id)


async def batch_agent_invoke(client: PolosClient, agents: list[Any]) -> list[ExecutionHandle]:
    """Start one run per ``agent.with_input(...)`` (``AgentRunConfig``); their handles, in
    order. Each run gets its config's ``session_id``, ``user_id``, ``initial_state`` and
    ``run_timeout_seconds``."""
    return [
        await config.agent.invoke(
            client,
            config.payload,
            session_id=config.session_id,
            user_id=config.user_id,
            initial_state=config.initial_state,
            run_timeout_seconds=config.run_timeout_seconds,
        )
        for config in agents
    ]
