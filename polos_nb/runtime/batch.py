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
    """Start one run per ``agent.with_input(...)`` config; their handles, in order."""
    return [await config.agent.invoke(client, config.payload) for config in agents]
