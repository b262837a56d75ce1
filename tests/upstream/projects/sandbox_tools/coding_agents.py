"""A coding agent whose tools (exec, read, write, edit, glob, grep) run in a Docker container.

Upstream names provider="anthropic", model="claude-sonnet-4-5" and image="node:20-slim";
the scripted model writes Python instead of JavaScript, for the image the tests build.
"""

from polos_nb import (
    Agent,
    DockerEnvironmentConfig,
    MaxStepsConfig,
    SandboxToolsConfig,
    max_steps,
    sandbox_tools,
)
from polos_nb.testing import FakeToolCall, ScriptedModel

# The container is made on the first tool call and removed when the run ends; its
# workspace is a host directory under $POLOS_WORKSPACES_DIR.
tools = sandbox_tools(
    SandboxToolsConfig(
        env="docker",
        docker=DockerEnvironmentConfig(image="polos-nb-sandbox:py3", memory="256m"),
    )
)

FIBONACCI = """a, b = 0, 1
numbers = []
for _ in range(10):
    numbers.append(a)
    a, b = b, a + b
print(" ".join(map(str, numbers)))
"""

model = ScriptedModel(
    "sandbox-coder-model",
    [
        FakeToolCall(
            "write", {"path": "hello.py", "content": 'print("Hello from the sandbox!")\n'}
        ),
        FakeToolCall("exec", {"command": "python3 hello.py"}),
        FakeToolCall("write", {"path": "fibonacci.py", "content": FIBONACCI}),
        FakeToolCall("exec", {"command": "python3 fibonacci.py"}),
        FakeToolCall("glob", {"pattern": "*.py"}),
        "I wrote hello.py and fibonacci.py and ran both: the first 10 Fibonacci numbers "
        "are 0 1 1 2 3 5 8 13 21 34.",
    ],
)

coding_agent = Agent(
    id="coding_agent",
    provider="fake",
    model=model,
    system_prompt=(
        "You are a coding agent with a sandbox. The workspace is /workspace in the "
        "container. Write the code, run it, and show its output in your answer."
    ),
    tools=tools,
    stop_conditions=[max_steps(MaxStepsConfig(count=50))],
)
