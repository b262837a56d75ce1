"""``polos.middleware.guardrail`` under its upstream path."""

from polos_nb.agents import GuardrailContext, GuardrailResult, guardrail

__all__ = ["GuardrailContext", "GuardrailResult", "guardrail"]
