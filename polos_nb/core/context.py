"""``polos.core.context`` under its upstream path.

Upstream's ``AgentContext`` is a ``WorkflowContext`` with the agent's settings; here an
agent's body gets a plain :class:`WorkflowContext`, so the two names are the same class.
"""

from polos_nb.engine import WorkflowContext

AgentContext = WorkflowContext

__all__ = ["AgentContext", "WorkflowContext"]
