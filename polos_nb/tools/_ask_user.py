"""``ask_user``: a tool through which the model asks a human and waits for the answer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ._tool import Tool

__all__ = [
    "AskUserField",
    "AskUserFieldOption",
    "AskUserInput",
    "AskUserTool",
    "create_ask_user_tool",
]


class AskUserFieldOption(BaseModel):
    """One choice of a ``select`` field."""

    label: str
    value: str


class AskUserField(BaseModel):
    """One field of the form shown to the human.

    ``required`` is left out unless the model sets it: such a field may stay empty (as
    upstream, whose approval page asks only for fields marked required).
    """

    key: str = Field(description="The key of this answer in the result")
    type: Literal["text", "textarea", "number", "boolean", "select"] = Field(
        default="text", description="The kind of input"
    )
    label: str = Field(description="What the user sees next to the input")
    description: str | None = Field(default=None, description="Help shown under the label")
    required: bool | None = Field(default=None, description="Whether the user must answer it")
    options: list[AskUserFieldOption] | None = Field(
        default=None, description="The choices of a select field"
    )


class AskUserInput(BaseModel):
    """What the model sends: the question, an optional title and optional form fields."""

    question: str = Field(description="The question to ask the user")
    title: str | None = Field(default=None, description="A short title for the form")
    fields: list[AskUserField] | None = Field(
        default=None, description="Form fields; by default one free-text answer keyed 'response'"
    )


class AskUserTool(Tool):
    """The ``ask_user`` tool. The agent loop runs it as a suspension, not as a function.

    The run waits (holding no thread) until ``client.resume(workflow_id, execution_id,
    step_key, data)`` answers; ``data`` (e.g. ``{"response": "Paris"}``) is the result
    the model sees.
    """

    kind = "ask_user"

    def form(self, validated: AskUserInput) -> dict[str, Any]:
        """The suspension data: a ``_form`` (title, description, fields) plus ``_source``/``_tool``."""
        fields = validated.fields or [
            AskUserField(key="response", type="textarea", label="Your answer", required=True)
        ]
        return {
            "_form": {
                "title": validated.title or "Agent Question",
                "description": validated.question,
                "fields": [f.model_dump(exclude_none=True) for f in fields],
            },
            "_source": "ask_user",
            "_tool": self.id,
        }


def _ask_user(input: AskUserInput) -> Any:  # pragma: no cover - the agent loop never calls it
    raise RuntimeError("ask_user is answered by the agent loop with a suspension")


def create_ask_user_tool(tool_id: str = "ask_user") -> AskUserTool:
    """A tool the model uses to ask the human a question (a form) and get the answers.

    ```python
    agent = Agent(..., tools=[create_ask_user_tool()])
    handle = await agent.invoke(client, "Plan my trip")
    # the run waits; its suspend event carries data["_form"]
    await client.resume(agent.id, handle.id, step_key, {"response": "Lisbon"})
    ```
    """
    return AskUserTool(
        _ask_user,
        id=tool_id,
        description=(
            "Ask the user a question and wait for the answer. Use it when you need information "
            "or a decision only the user can give."
        ),
    )
