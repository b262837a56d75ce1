"""A coding agent whose exec tool runs allowlisted commands and asks before anything else.

Upstream names provider="anthropic", model="claude-sonnet-4-5" and image="node:20-slim"
(with network="bridge" for npm); the scripted model writes Python for the tests' image.
"""

from polos_nb import (
    Agent,
    DockerEnvironmentConfig,
    ExecToolConfig,
    MaxStepsConfig,
    SandboxToolsConfig,
    create_ask_user_tool,
    max_steps,
    sandbox_tools,
)
from polos_nb.testing import FakeToolCall, ScriptedModel

tools = sandbox_tools(
    SandboxToolsConfig(
        env="docker",
        docker=DockerEnvironmentConfig(image="polos-nb-sandbox:py3"),
        exec=ExecToolConfig(
            security="allowlist",
            allowlist=["python3 *", "cat *", "echo *", "ls *", "ls"],
        ),
    )
)

ask_user = create_ask_user_tool()

GREET = """import sys

print(f"Hello, {sys.argv[1]}!")
"""

model = ScriptedModel(
    "secure-coder-model",
    [
        FakeToolCall("write", {"path": "greet.py", "content": GREET}),
        FakeToolCall("exec", {"command": "python3 greet.py Ada"}),
        FakeToolCall("exec", {"command": "pip install colorama"}),
        FakeToolCall(
            "ask_user",
            {
                "question": "Which colour should the greeting be?",
                "title": "Pick a colour",
                "fields": [
                    {
                        "key": "colour",
                        "type": "select",
                        "label": "Colour",
                        "options": [
                            {"label": "Green", "value": "32"},
                            {"label": "Blue", "value": "34"},
                        ],
                    }
                ],
            },
        ),
        FakeToolCall(
            "edit",
            {
                "path": "greet.py",
                "old_text": 'print(f"Hello, {sys.argv[1]}!")',
                "new_text": 'print(f"\\033[32mHello, {sys.argv[1]}!\\033[0m")',
            },
        ),
        FakeToolCall("exec", {"command": "python3 greet.py Ada > greeting.txt"}),
        FakeToolCall("exec", {"command": "cat greeting.txt"}),
        "greet.py now prints the greeting in green with ANSI escape codes "
        "(no package needed); greeting.txt holds its output.",
    ],
)

coding_agent = Agent(
    id="secure_coding_agent",
    provider="fake",
    model=model,
    system_prompt=(
        "You are a coding agent with a sandbox. Some commands need the user's approval; "
        "if one is rejected, read the feedback and change your approach. Ask the user "
        "with ask_user when you need a decision."
    ),
    tools=[*tools, ask_user],
    stop_conditions=[max_steps(MaxStepsConfig(count=30))],
)
