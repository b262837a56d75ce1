"""``sandbox_tools()``: the six tools (exec, read, write, edit, glob, grep) over one sandbox.

Approvals are a tools-level signal: a tool raises ``ApprovalRequired`` with an upstream
``_form`` (the command, or the diff of a write or an edit) and the agent layer suspends
the run durably. When the answer comes, the tool runs again and sees it
(``approval_answer()``): approve once, approve always (remembered by the sandbox: a
command pattern, or every file change), or reject with feedback the model reads.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from polos_nb.errors import UserError
from polos_nb.tools import ApprovalRequired, Tool
from polos_nb.tools._approval import approval_answer

from . import _files
from ._environment import ExecutionEnvironment
from ._sandbox import ApprovalMemory, ManagedSandbox, get_sandbox_manager, sandbox_name
from ._security import NotSimpleCommand, evaluate_allowlist, parse_pattern, parse_simple_command
from ._types import ExecOptions, ExecToolConfig, SandboxToolsConfig

__all__ = [
    "EditInput",
    "ExecInput",
    "GlobInput",
    "GrepInput",
    "ReadInput",
    "WriteInput",
    "create_edit_tool",
    "create_exec_tool",
    "create_glob_tool",
    "create_grep_tool",
    "create_read_tool",
    "create_write_tool",
    "sandbox_tools",
]

_STRICT = ConfigDict(extra="forbid")
_RUN_END = re.compile(r"^(?!step_)[a-z]+_(finish|error|cancel)$")
"""A run's own end (``agent_finish``, ``workflow_error``...), not a step's or a tool call's."""


class ExecInput(BaseModel):
    model_config = _STRICT
    command: str = Field(description="The shell command to execute")
    cwd: str | None = Field(default=None, description="Working directory for the command")
    env: dict[str, str] | None = Field(default=None, description="Environment variables to set")
    timeout: int | None = Field(default=None, description="Timeout in seconds (default: 300)")


class ReadInput(BaseModel):
    model_config = _STRICT
    path: str = Field(description="Path to the file to read")
    offset: int | None = Field(default=None, description="Line to start from (0-based)")
    limit: int | None = Field(default=None, description="Maximum number of lines (default 2000)")


class WriteInput(BaseModel):
    model_config = _STRICT
    path: str = Field(description="Path to the file to write")
    content: str = Field(description="Content to write to the file")


class EditInput(BaseModel):
    model_config = _STRICT
    path: str = Field(description="Path to the file to edit")
    old_text: str = Field(description="Exact text to find (must occur exactly once)")
    new_text: str = Field(description="Text to replace the old_text with")
    replace_all: bool = Field(default=False, description="Replace every occurrence instead")


class GlobInput(BaseModel):
    model_config = _STRICT
    pattern: str = Field(description='Glob pattern ("*.py" at any depth, "src/**/*.ts" by path)')
    cwd: str | None = Field(default=None, description="Directory to search in")
    ignore: list[str] | None = Field(default=None, description="Patterns to exclude from results")


class GrepInput(BaseModel):
    model_config = _STRICT
    pattern: str = Field(description="Regular expression to search for")
    cwd: str | None = Field(default=None, description="Directory to search in")
    include: list[str] | None = Field(default=None, description='File patterns, e.g. ["*.py"]')
    max_results: int | None = Field(default=None, description="Maximum matches (default: 100)")
    context_lines: int | None = Field(default=None, description="Context lines around each match")


@dataclass
class _Binding:
    env: ExecutionEnvironment
    approvals: ApprovalMemory
    sandbox: str


Binder = Callable[[Any], Any]
"""``async (ctx) -> _Binding`` as an async context manager."""


class _SandboxSet:
    """What one ``sandbox_tools()`` call shares between its tools: the config and its sandboxes."""

    def __init__(self, config: SandboxToolsConfig) -> None:
        self.config = config
        self.name = sandbox_name(config)
        self._watched: set[str] = set()
        self._lock = threading.Lock()

    def _scope_key(self, ctx: Any) -> tuple[str, str | None]:
        session_id = getattr(ctx, "session_id", None)
        if (self.config.scope or "execution") == "session":
            if not session_id:
                raise UserError(
                    "sandbox_tools(scope='session') needs a session: run the agent with "
                    "session_id='...' (e.g. agent.run(client, prompt, session_id='s1'))."
                )
            return f"session-{_safe_key(session_id)}", session_id
        root = getattr(ctx, "root_execution_id", None) or getattr(ctx, "execution_id", None)
        if not root:
            raise UserError("Sandbox tools run inside an agent or a workflow (no execution found).")
        return f"run-{_safe_key(str(root))}", session_id

    def _watch_root(self, ctx: Any, root: str) -> None:
        """Destroy the run's execution-scoped sandbox when its root run ends (this process)."""
        with self._lock:
            if root in self._watched or not hasattr(ctx, "subscribe"):
                return
            self._watched.add(root)
        unsubscribe: Callable[[], None] | None = None

        def on_event(event: Any) -> None:
            kind = event.event_type or ""
            data = event.data if isinstance(event.data, dict) else {}
            meta = data.get("_metadata") or {}
            if meta.get("execution_id") != root or not _RUN_END.match(kind):
                return
            if unsubscribe is not None:
                unsubscribe()
            with self._lock:
                self._watched.discard(root)
            threading.Thread(
                target=get_sandbox_manager().root_finished, args=(root,), daemon=True
            ).start()

        unsubscribe = ctx.subscribe(on_event)

    @asynccontextmanager
    async def use(self, ctx: Any) -> AsyncIterator[_Binding]:
        scope_key, session_id = self._scope_key(ctx)
        sandbox: ManagedSandbox = get_sandbox_manager().get_or_create(
            self.config,
            self.name,
            scope_key,
            session_id=session_id,
            execution_id=getattr(ctx, "execution_id", None),
        )
        if sandbox.scope == "execution":
            self._watch_root(ctx, scope_key[len("run-") :])
        sandbox.in_flight += 1
        try:
            env = await sandbox.get_environment()
            yield _Binding(env=env, approvals=sandbox.approvals, sandbox=sandbox.id)
        finally:
            sandbox.in_flight -= 1
            sandbox.last_activity_at = time.monotonic()


def _safe_key(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:120]


def _binder_from_getter(get_env: Callable[..., Awaitable[ExecutionEnvironment]]) -> Binder:
    """Upstream's factories take ``get_env()``; accept that (or ``get_env(ctx)``)."""
    memory = ApprovalMemory(None)
    takes_ctx = bool(inspect.signature(get_env).parameters)

    @asynccontextmanager
    async def use(ctx: Any) -> AsyncIterator[_Binding]:
        env = await (get_env(ctx) if takes_ctx else get_env())
        yield _Binding(env=env, approvals=memory, sandbox=env.type)

    return use


def _as_binder(get_env: Any) -> Binder:
    if isinstance(get_env, _SandboxSet):
        return get_env.use
    return _binder_from_getter(get_env)


# ---------------------------------------------------------------------- approval forms
_APPROVED = {
    "key": "approved",
    "type": "boolean",
    "label": "Approve?",
    "required": True,
    "default": False,
}
_FEEDBACK = {
    "key": "feedback",
    "type": "textarea",
    "label": "Feedback for the agent (optional)",
    "description": "If rejecting, tell the agent what to do instead.",
    "required": False,
}


def _answer_flags(answer: dict[str, Any]) -> tuple[bool, bool, str | None]:
    approved = answer.get("approved") is True
    always = answer.get("always") is True or answer.get("allow_always") is True
    feedback = answer.get("feedback")
    return approved, always, str(feedback) if feedback else None


def _exec_form(
    command: str, env: ExecutionEnvironment, sandbox: str, why: str, args: dict[str, Any]
) -> dict[str, Any]:
    try:
        parse_simple_command(command)
        remember = "commands matching the pattern below"
    except NotSimpleCommand:
        remember = "this exact command"
    return {
        "_form": {
            "title": "Run this command?",
            "description": (
                f"The agent wants to run a shell command in the **{env.type}** sandbox "
                f"`{sandbox}` ({why})."
            ),
            "fields": [
                {**_APPROVED, "label": "Approve this command?"},
                {
                    "key": "allow_always",
                    "type": "boolean",
                    "label": f"Always allow {remember} in this sandbox",
                    "required": False,
                    "default": False,
                },
                {
                    "key": "pattern",
                    "type": "text",
                    "label": "Pattern to allow always ('*' matches any words)",
                    "required": False,
                    "default": command.strip(),
                },
                _FEEDBACK,
            ],
            "context": {
                "command": command,
                "cwd": args.get("cwd") or env.get_cwd(),
                "environment": env.type,
                "sandbox": sandbox,
                "reason": why,
                "input": args,
            },
        },
        "_source": "exec_security",
        "_tool": "exec",
    }


def _file_form(
    tool_id: str,
    plan: _files.EditPlan,
    env: ExecutionEnvironment,
    sandbox: str,
    args: dict[str, Any],
) -> dict[str, Any]:
    verb = "create" if plan.before_sha is None else ("change" if tool_id == "edit" else "overwrite")
    return {
        "_form": {
            "title": f"{tool_id}: {verb} {plan.path}?",
            "description": f"The agent wants to {verb} `{plan.path}` in the **{env.type}** sandbox `{sandbox}`:\n\n```diff\n{plan.diff}```",
            "fields": [
                {**_APPROVED, "label": "Approve this change?"},
                {
                    "key": "allow_always",
                    "type": "boolean",
                    "label": "Always allow file changes in this sandbox",
                    "required": False,
                    "default": False,
                },
                _FEEDBACK,
            ],
            "context": {
                "tool": tool_id,
                "path": plan.path,
                "diff": plan.diff,
                "sandbox": sandbox,
                "sha256_before": plan.before_sha,
                "input": args,  # upstream's: a write's content too
            },
        },
        "_source": "tool_approval",
        "_tool": tool_id,
    }


def _rejected_exec(command: str, feedback: str | None) -> dict[str, Any]:
    stderr = f"Command rejected by user: {command}"
    if feedback:
        stderr += f"\nUser feedback: {feedback}"
    return {"exit_code": -1, "stdout": "", "stderr": stderr, "duration_ms": 0, "truncated": False}


# ---------------------------------------------------------------------- the tools
def create_exec_tool(get_env: Any, config: ExecToolConfig | None = None) -> Tool:
    """The ``exec`` tool: run a shell command in the sandbox, with ``config``'s security mode."""
    use = _as_binder(get_env)
    cfg = config or ExecToolConfig()
    for pattern in cfg.allowlist or []:
        parse_pattern(pattern)
    security = cfg.security or "allow-always"

    async def exec(ctx: Any, input: ExecInput) -> dict[str, Any]:
        async with use(ctx) as b:
            answer = approval_answer()
            args = input.model_dump(exclude_none=True)
            if answer is None:
                why = None
                if b.approvals.allows(input.command):
                    why = None
                elif security == "approval-always":
                    why = "every command needs approval"
                elif security == "allowlist" and not evaluate_allowlist(
                    input.command, cfg.allowlist or []
                ):
                    try:
                        parse_simple_command(input.command)
                        why = "it matches no allowlist pattern"
                    except NotSimpleCommand as exc:
                        why = f"not a single simple command: {exc.reason}"
                if why is not None:
                    raise ApprovalRequired(
                        _exec_form(input.command, b.env, b.sandbox, why, args),
                        f"approval required to run: {input.command}",
                        tool_handles_answer=True,
                    )
            else:
                approved, always, feedback = _answer_flags(answer)
                if not approved:
                    return _rejected_exec(input.command, feedback)
                if always:
                    pattern = answer.get("pattern")
                    b.approvals.remember_command(input.command, str(pattern) if pattern else None)
            result = await b.env.exec(
                input.command,
                ExecOptions(cwd=input.cwd, env=input.env, timeout=input.timeout or cfg.timeout),
            )
            return result.model_dump()

    return Tool(
        exec,
        id="exec",
        description=(
            "Execute a shell command in the sandbox environment. Returns stdout, stderr, "
            "and exit code. Use this for running builds, tests, installing packages, or "
            "any shell operation."
        ),
    )


def create_read_tool(get_env: Any, config: Any = None) -> Tool:
    """The ``read`` tool: lines of a text file (ranges; binary files refused)."""
    use = _as_binder(get_env)

    async def read(ctx: Any, input: ReadInput) -> dict[str, Any]:
        async with use(ctx) as b:
            return await asyncio.to_thread(
                _files.read_text,
                b.env.root,
                input.path,
                b.env.cwd_components(),
                input.offset,
                input.limit,
                b.env.max_output_chars,
            )

    return Tool(
        read,
        id="read",
        description=(
            "Read a text file. Returns its lines (at most 2000 at a time); give offset "
            "(0-based line) and limit to read a range of a long file."
        ),
    )


FileApproval = Literal["always", "none"] | None


def _file_tool(tool_id: str, use: Binder, approval: FileApproval) -> Callable[..., Any]:
    async def run(ctx: Any, input: Any) -> dict[str, Any]:
        async with use(ctx) as b:
            root, cwd = b.env.root, b.env.cwd_components()
            if tool_id == "write":
                plan = await asyncio.to_thread(
                    _files.plan_write, root, input.path, cwd, input.content
                )
            else:
                plan = await asyncio.to_thread(
                    _files.plan_edit,
                    root,
                    input.path,
                    cwd,
                    input.old_text,
                    input.new_text,
                    input.replace_all,
                )
            answer = approval_answer()
            if answer is None and approval == "always" and not b.approvals.files:
                raise ApprovalRequired(
                    _file_form(tool_id, plan, b.env, b.sandbox, input.model_dump()),
                    f"approval required to {tool_id} {input.path}",
                    tool_handles_answer=True,
                )
            if answer is not None:
                approved, always, feedback = _answer_flags(answer)
                if not approved:
                    raise PermissionError(
                        f"The user rejected this {tool_id} of {input.path}."
                        + (f" User feedback: {feedback}" if feedback else "")
                    )
                if always:
                    b.approvals.allow_files()
            written = await asyncio.to_thread(
                _files.apply_plan, root, plan, check_unchanged=answer is not None
            )
            out: dict[str, Any] = {"success": True, "path": input.path, "bytes": written}
            if tool_id == "edit":
                out["replacements"] = plan.replacements
                out["diff"] = plan.diff
            return out

    return run


def create_write_tool(get_env: Any, config: Any = None) -> Tool:
    """The ``write`` tool: create or overwrite a text file (with an approval showing the diff
    when ``config.approval == "always"``)."""
    approval = getattr(config, "approval", None)
    body = _file_tool("write", _as_binder(get_env), approval)

    async def write(ctx: Any, input: WriteInput) -> dict[str, Any]:
        return dict(await body(ctx, input))

    return Tool(
        write,
        id="write",
        description=(
            "Write content to a file. Creates the file if it does not exist, or "
            "overwrites it if it does. Parent directories are created automatically."
        ),
    )


def create_edit_tool(get_env: Any, config: Any = None) -> Tool:
    """The ``edit`` tool: replace an exact text that occurs once (or every occurrence)."""
    approval = getattr(config, "approval", None)
    body = _file_tool("edit", _as_binder(get_env), approval)

    async def edit(ctx: Any, input: EditInput) -> dict[str, Any]:
        return dict(await body(ctx, input))

    return Tool(
        edit,
        id="edit",
        description=(
            "Edit a file by replacing an exact string match. old_text must match exactly "
            "(including whitespace and indentation) and occur once, unless replace_all is true."
        ),
    )


def create_glob_tool(get_env: Any, config: Any = None) -> Tool:
    """The ``glob`` tool: find files by pattern, recursively."""
    use = _as_binder(get_env)

    async def glob(ctx: Any, input: GlobInput) -> dict[str, Any]:
        async with use(ctx) as b:
            return await asyncio.to_thread(
                _files.glob_files,
                b.env.root,
                input.pattern,
                b.env.cwd_components(),
                input.cwd,
                input.ignore,
            )

    return Tool(
        glob,
        id="glob",
        description=(
            "Find files matching a glob pattern, recursively: '*.py' matches at any depth, "
            "'src/**/*.ts' matches by path. Returns a list of file paths."
        ),
    )


def create_grep_tool(get_env: Any, config: Any = None) -> Tool:
    """The ``grep`` tool: search text files recursively for a regular expression."""
    use = _as_binder(get_env)

    async def grep(ctx: Any, input: GrepInput) -> dict[str, Any]:
        async with use(ctx) as b:
            return await asyncio.to_thread(
                _files.grep_files,
                b.env.root,
                input.pattern,
                b.env.cwd_components(),
                input.cwd,
                input.include,
                input.max_results,
                input.context_lines,
            )

    return Tool(
        grep,
        id="grep",
        description=(
            "Search file contents for a regular expression, recursively. Returns matching "
            "lines with file paths and line numbers."
        ),
    )


@dataclass
class _FileToolConfig:
    approval: FileApproval = None


def sandbox_tools(config: SandboxToolsConfig | None = None) -> list[Tool]:
    """The six sandbox tools — exec, read, write, edit, glob, grep — sharing one environment.

    ```python
    tools = sandbox_tools(SandboxToolsConfig(
        env="docker",
        docker=DockerEnvironmentConfig(image="polos-nb-sandbox:py3", memory="512m"),
        exec=ExecToolConfig(security="allowlist", allowlist=["python3 *", "ls", "ls *"]),
    ))
    agent = Agent(id="coder", provider="openai", model="gpt-4o-mini", tools=tools)
    ```

    The sandbox is made on the first tool call of a run: one per root run
    (``scope="execution"``, removed when the run ends) or one per session
    (``scope="session"``). Defaults: ``env="docker"`` with exec ``allow-always`` and no
    file approvals; ``env="local"`` with exec ``approval-always`` and approvals (showing
    the diff) for write and edit. Each call makes its own set of tools: two sets with
    different configurations coexist, each with its own sandboxes. See docs/sandbox.md.
    """
    cfg = config or SandboxToolsConfig()
    env_type = cfg.env or "docker"
    if env_type == "e2b":
        raise NotImplementedError(
            "env='e2b' is not implemented (as in upstream Polos); use 'docker' or 'local'."
        )
    exec_cfg = cfg.exec or ExecToolConfig()
    if exec_cfg.security is None:
        exec_cfg = exec_cfg.model_copy(
            update={"security": "approval-always" if env_type == "local" else "allow-always"}
        )
    if exec_cfg.security == "allowlist" and not exec_cfg.allowlist:
        raise UserError(
            "ExecToolConfig(security='allowlist') needs allowlist=[...] patterns, e.g. ['ls', 'python3 *']."
        )
    file_approval: FileApproval = cfg.file_approval or ("always" if env_type == "local" else "none")
    shared = _SandboxSet(cfg)
    files = _FileToolConfig(approval=file_approval)
    include = set(cfg.tools or ["exec", "read", "write", "edit", "glob", "grep"])
    makers: list[tuple[str, Callable[[], Tool]]] = [
        ("exec", lambda: create_exec_tool(shared, exec_cfg)),
        ("read", lambda: create_read_tool(shared)),
        ("write", lambda: create_write_tool(shared, files)),
        ("edit", lambda: create_edit_tool(shared, files)),
        ("glob", lambda: create_glob_tool(shared)),
        ("grep", lambda: create_grep_tool(shared)),
    ]
    tools = [make() for name, make in makers if name in include]
    for t in tools:
        t.sandbox = shared  # type: ignore[attr-defined]
    return tools
