"""``polos.middleware.hook`` under its upstream path."""

from polos_nb.agents import HookAction, HookContext, HookResult, hook

__all__ = ["HookAction", "HookContext", "HookResult", "hook"]
