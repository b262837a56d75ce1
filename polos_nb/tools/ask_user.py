"""``polos.tools.ask_user`` under its upstream path."""

from ._ask_user import AskUserField, AskUserFieldOption, AskUserInput, create_ask_user_tool

__all__ = ["AskUserField", "AskUserFieldOption", "AskUserInput", "create_ask_user_tool"]
