"""A coding agent whose tools run on this machine (env="local"), with approvals.

On the host there is no container between the agent and your files, so by default every
command and every write or edit waits for a human. The workspace is made for the run
under $POLOS_WORKSPACES_DIR. Upstream names provider="anthropic",
model="claude-sonnet-4-5"; the scripted model writes Python instead of JavaScript.
"""

from polos_nb import Agent, MaxStepsConfig, SandboxToolsConfig, max_steps, sandbox_tools
from polos_nb.testing import FakeToolCall, ScriptedModel

tools = sandbox_tools(SandboxToolsConfig(env="local"))

FIBONACCI = """a, b = 0, 1
for _ in range(10):
    print(a, end=" ")
    a, b = b, a + b
print()
"""

model = ScriptedModel(
    "local-coder-model",
    [
        FakeToolCall(
            "write", {"path": "hello.py", "content": 'print("Hello from the local sandbox!")\n'}
        ),
        FakeToolCall("exec", {"command": "python3 hello.py"}),
        FakeToolCall("write", {"path": "fibonacci.py", "content": FIBONACCI}),
        FakeToolCall("write", {"path": "fib.py", "content": FIBONACCI}),
        FakeToolCall("exec", {"command": "python3 fib.py"}),
        FakeToolCall("read", {"path": "/etc/hostname"}),
        "hello.py prints its greeting and fib.py prints 0 1 1 2 3 5 8 13 21 34. "
        "I could not read /etc/hostname: it is outside the workspace.",
    ],
)

coding_agent = Agent(
    id="local_coding_agent",
    provider="fake",
    model=model,
    system_prompt=(
        "You are a coding agent with access to the local filesystem. Write the code, "
        "run it, and include its output in your answer."
    ),
    tools=tools,
    stop_conditions=[max_steps(MaxStepsConfig(count=30))],
)
