"""A coding agent whose sandbox lives as long as its session (scope="session").

Two runs with the same session_id share one container and one workspace: the second
run sees the files the first one wrote. Upstream names provider="anthropic",
model="claude-sonnet-4-5" and image="node:20-slim"; the scripted model writes Python.
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

tools = sandbox_tools(
    SandboxToolsConfig(
        scope="session",
        env="docker",
        docker=DockerEnvironmentConfig(image="polos-nb-sandbox:py3"),
    )
)

MATH_UTILS = """def add(a, b):
    return a + b


def multiply(a, b):
    return a * b
"""

TEST_MATH = """from math_utils import add, multiply

assert add(2, 3) == 5
assert multiply(4, 5) == 20
print("All tests passed!")
"""

model = ScriptedModel(
    "session-coder-model",
    [
        # Run 1
        FakeToolCall("write", {"path": "math_utils.py", "content": MATH_UTILS}),
        FakeToolCall("write", {"path": "test_math.py", "content": TEST_MATH}),
        FakeToolCall("exec", {"command": "python3 test_math.py"}),
        "Created math_utils.py (add, multiply) and test_math.py; All tests passed!",
        # Run 2: the same sandbox
        FakeToolCall("exec", {"command": "ls /workspace"}),
        FakeToolCall(
            "edit",
            {
                "path": "math_utils.py",
                "old_text": "def multiply(a, b):",
                "new_text": "def subtract(a, b):\n    return a - b\n\n\ndef multiply(a, b):",
            },
        ),
        FakeToolCall(
            "edit",
            {
                "path": "test_math.py",
                "old_text": "from math_utils import add, multiply\n",
                "new_text": "from math_utils import add, multiply, subtract\n\n"
                "assert subtract(9, 4) == 5\n",
            },
        ),
        FakeToolCall("exec", {"command": "python3 test_math.py"}),
        "math_utils.py was already there; I added subtract and its test. All tests passed!",
    ],
)

coding_agent = Agent(
    id="session_coding_agent",
    provider="fake",
    model=model,
    system_prompt=(
        "You are a coding agent with a persistent sandbox: files from earlier turns of "
        "this session are still in /workspace. Check what exists before creating files."
    ),
    tools=tools,
    stop_conditions=[max_steps(MaxStepsConfig(count=50))],
)
