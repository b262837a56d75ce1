"""Every error polos_nb raises, as one tree.

```
PolosError
├── UserError                      you used the API in a way it cannot honour
│   ├── WorkflowNotFoundError      no workflow registered under that id
│   ├── ExecutionNotFoundError     no execution with that id in the journal
│   ├── PayloadValidationError     a payload does not fit the workflow's input type
│   ├── DuplicateStepKeyError      a step key used twice in one execution (D3)
│   ├── SerializationError         a value cannot be journaled (or read back)
│   │   └── UnresolvedClassError   the journal holds a value of a class not defined here (yet)
│   ├── SignatureError             a decorated function's parameters do not fit (also a TypeError)
│   ├── InvalidTopicError          an event topic with illegal characters
│   ├── ModelRequestBlockedError   a network model call while model requests are disabled (tests)
│   ├── ResumeError                nothing is waiting under that key, or it was resumed already
│   ├── ApprovalValidationError    an approval / form answer does not fit its form (per-field errors)
│   └── ApprovalPendingError       a blocking wait in a notebook cell while a run waits for a human
├── JournalError                   the journal file cannot be used
│   ├── JournalLockedError         another process owns the journal (names its PID)
│   ├── JournalCorruptError        the file is not a readable journal
│   ├── JournalUnavailableError    it cannot be read or written now (permissions, disk full, I/O)
│   └── JournalVersionError        written by a newer polos_nb
├── NonDeterminismError            replay asked for other steps than the journal holds (D4)
├── StepExecutionError             a step raised; the workflow may catch it
│   ├── ChildWorkflowError         a child workflow failed (invoke_and_wait)
│   └── StepTimeoutError           a step ran past its timeout (also a TimeoutError)
├── ExecutionFailedError           the execution you waited for failed
├── ExecutionCancelledError        the execution was cancelled
├── ExecutionBlockedError          the execution waits until its code, a class or the journal is fixed
├── WorkflowTimeoutError           waiting for a result took longer than `timeout`
├── WaitTimeoutError               a suspend / event wait / run passed its deadline
├── ChannelError                   a notification channel could not deliver (Slack, e-mail, webhook)
└── AgentError                     an agent run cannot go on
    ├── LLMError                   the model call failed (provider error, bad key, network)
    │   └── LocalModelUnavailableError  provider="local" without llama-cpp-python installed
    ├── OutputValidationError      the reply never matched output_schema within the retries
    ├── GuardrailFailedError       a guardrail failed the run (or its retries ran out)
    └── HookFailedError            a lifecycle hook returned HookResult.fail(...)
SandboxError                       a sandbox cannot be created or used (Docker unreachable, no image)
├── SandboxPathError               a path leads outside the workspace / path_restriction
└── SandboxFileError               a file cannot be read or edited as asked (missing, binary, ambiguous)
    └── SandboxFileNotFoundError   the file (or a folder on its path) does not exist
```

The sandbox errors are also the built-in types upstream Polos raises in the same places, so
``except`` clauses written for it still catch them: a ``SandboxError`` is a
``RuntimeError``, a ``SandboxFileError`` a ``ValueError`` (a binary file, an edit without a
unique match), a ``SandboxFileNotFoundError`` a ``FileNotFoundError`` and a
``SandboxPathError`` a ``PermissionError`` and a ``ValueError``.

Errors that carry data implement ``__reduce__`` so they pickle and can be journaled.
Control-flow signals the engine uses internally derive from ``BaseException`` and live
in ``polos_nb.engine`` (``except Exception`` in user code cannot swallow them).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AgentError",
    "ApprovalPendingError",
    "ApprovalValidationError",
    "ChannelError",
    "ChildWorkflowError",
    "DuplicateStepKeyError",
    "ExecutionBlockedError",
    "ExecutionCancelledError",
    "ExecutionFailedError",
    "ExecutionNotFoundError",
    "GuardrailFailedError",
    "HookFailedError",
    "InvalidTopicError",
    "JournalCorruptError",
    "JournalError",
    "JournalLockedError",
    "JournalUnavailableError",
    "JournalVersionError",
    "LLMError",
    "LocalModelUnavailableError",
    "ModelRequestBlockedError",
    "NonDeterminismError",
    "NotAClientError",
    "OutputValidationError",
    "PayloadValidationError",
    "PolosError",
    "ResumeError",
    "SandboxError",
    "SandboxFileError",
    "SandboxFileNotFoundError",
    "SandboxPathError",
    "SerializationError",
    "SignatureError",
    "StepExecutionError",
    "StepTimeoutError",
    "UnresolvedClassError",
    "UserError",
    "WaitTimeoutError",
    "WorkflowNotFoundError",
    "WorkflowTimeoutError",
]


class PolosError(Exception):
    """Root of every error raised by polos_nb."""


class UserError(PolosError, ValueError):
    """The API was used in a way it cannot honour; the message says how to fix it."""


class WorkflowNotFoundError(UserError, LookupError):
    """No workflow is registered under the requested id."""

    def __init__(self, workflow_id: str, known: list[str] | None = None) -> None:
        self.workflow_id = workflow_id
        self.known = list(known or [])
        hint = (
            f" Registered: {', '.join(sorted(self.known))}."
            if self.known
            else " None are registered yet."
        )
        super().__init__(
            f"Workflow {workflow_id!r} not found: no workflow is registered with that id.{hint} "
            "Define it with @workflow (run its cell) or pass it to Worker(workflows=[...])."
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.workflow_id, self.known))


class ExecutionNotFoundError(UserError, LookupError):
    """No execution with this id exists in the journal."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        super().__init__(
            f"No execution {execution_id!r} in this journal. "
            "List executions with client.list_executions() to find the id."
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.execution_id,))


class PayloadValidationError(UserError):
    """A payload does not validate against the workflow's declared input type."""


class DuplicateStepKeyError(UserError):
    """A step key was used twice in one execution (D3)."""

    def __init__(self, execution_id: str, step_key: str) -> None:
        self.execution_id = execution_id
        self.step_key = step_key
        super().__init__(
            f"Step key {step_key!r} is used twice in execution {execution_id}. "
            "Each ctx.step call needs its own key within one execution; in loops build it "
            'from the loop variable, e.g. f"fetch:{i}".'
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.execution_id, self.step_key))


class SerializationError(UserError, TypeError):
    """A value cannot be written to the journal as typed JSON, or cannot be read back."""


class NotAClientError(UserError, TypeError):
    """``run``, ``invoke`` or ``stream`` of a workflow or an agent was given something
    other than a client where the client goes (it comes first, then the input).

    Also a ``TypeError``, which Python raises for a misplaced argument.
    """


class SignatureError(UserError, TypeError):
    """A hook, guardrail or stop condition whose parameters do not fit what it is given.

    Also a ``TypeError``, as upstream Polos raises for the same mistake.
    """


class UnresolvedClassError(SerializationError):
    """The journal holds a value of a class that is not defined in this process (yet).

    Typical after a kernel restart: a Pydantic model defined in a notebook cell comes back
    once that cell runs again. A run that needs the value waits meanwhile (see
    :class:`ExecutionBlockedError`) and continues by itself once the class is defined.
    """

    def __init__(self, class_name: str) -> None:
        self.class_name = class_name
        super().__init__(
            f"The journal holds a {class_name} value, but that class is not defined in this "
            "process. Run the cell (or import the module) that defines it; a run waiting for it "
            "then continues by itself."
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.class_name,))


class InvalidTopicError(UserError):
    """An event topic is empty, too long or contains illegal characters."""


class ResumeError(UserError):
    """A resume could not be delivered (nothing waits under that key, or it ended)."""


class ApprovalValidationError(UserError):
    """An answer to a suspension's form does not validate; ``errors`` maps field → message."""

    def __init__(self, execution_id: str, step_key: str, errors: dict[str, str]) -> None:
        self.execution_id = execution_id
        self.step_key = step_key
        self.errors = dict(errors)
        detail = "; ".join(f"{field or '(form)'}: {msg}" for field, msg in self.errors.items())
        super().__init__(
            f"The answer to {step_key!r} of execution {execution_id} does not fit its form: {detail}. "
            "Nothing was delivered; fix the fields and approve again."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.execution_id, self.step_key, self.errors))


class ApprovalPendingError(UserError):
    """A cell blocked on a run that waits for a human: the click could never arrive."""

    def __init__(self, execution_id: str, step_keys: list[str]) -> None:
        self.execution_id = execution_id
        self.step_keys = list(step_keys)
        keys = ", ".join(repr(k) for k in self.step_keys)
        first = self.step_keys[0] if self.step_keys else "KEY"
        super().__init__(
            f"Run {execution_id} waits for a human at {keys}; blocking this cell would keep the approval "
            f"form from ever being clicked. Answer it in the run's form, or call "
            f"polos_nb.approve({execution_id!r}, {first!r}, {{...}}) (or %polos approve {execution_id} {first}); "
            "to wait in a cell use `await run`, which lets the form through."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.execution_id, self.step_keys))


class JournalError(PolosError):
    """The journal file cannot be used."""


class JournalLockedError(JournalError):
    """Another process holds the journal open; DuckDB allows one process per file."""

    def __init__(self, path: str, pid: int | None, open_as: str | None = None) -> None:
        self.path = path
        self.pid = pid
        self.open_as = open_as
        if open_as is not None:
            super().__init__(
                f"The journal {path} is already open in this process (as {open_as}): both names "
                "lead to the same file, and one file has one engine. Use the client that has it "
                "open (PolosClient(journal=...) shares it), or close that one first."
            )
            return
        owner = f"process {pid}" if pid is not None else "another process"
        kind = "A PostgreSQL journal" if "://" in path else "A DuckDB journal"
        super().__init__(
            f"The journal {path} is open in {owner}. {kind} belongs to one process "
            "at a time. Stop that process (or shut down that notebook's kernel), or use another "
            "journal: PolosClient(journal='other.duckdb') or the POLOS_JOURNAL environment variable."
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.path, self.pid, self.open_as))


class JournalCorruptError(JournalError):
    """The file is not a readable polos_nb journal."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(
            f"The journal {path} cannot be read ({detail}). polos_nb never deletes a journal: "
            "move the file aside to keep it for inspection and start with a fresh path."
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.path, self.detail))


class JournalUnavailableError(JournalError):
    """The journal cannot be read or written right now; what it holds is not lost.

    Permissions, a read-only or full file system, or an I/O error. ``detail`` says
    which; the message says what to do.
    """

    def __init__(self, path: str, detail: str, cause: str | None = None) -> None:
        self.path = path
        self.detail = detail
        self.cause = cause
        low = detail.lower()
        if "space" in low or "quota" in low or "size limit" in low:
            hint = (
                "Free space: runs that were writing wait, and continue from their last committed "
                "step once the journal can be written again (no restart needed)."
            )
        elif "permission" in low or "read-only" in low or "not writable" in low:
            hint = (
                "Use a writable location (PolosClient(journal=...) or the POLOS_JOURNAL "
                "environment variable), or fix the permissions."
            )
        elif "stopped" in low:
            hint = (
                "Close every client of this journal and open it again (or restart the kernel); "
                "committed work is in the file."
            )
        elif "://" in path:  # a database server (PostgreSQL)
            hint = (
                "Check that the database server runs and can be reached: runs that were writing "
                "wait, and continue from their last committed step once it answers again."
            )
        else:
            hint = "Check the storage device; committed work is in the file."
        extra = f" ({cause})" if cause and cause != detail else ""
        super().__init__(
            f"The journal {path} cannot be read or written right now: {detail}{extra}. {hint}"
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.path, self.detail, self.cause))


class JournalVersionError(JournalError):
    """The journal's schema is newer than this version of polos_nb understands."""

    def __init__(self, path: str, found: int, supported: int) -> None:
        self.path = path
        self.found = found
        self.supported = supported
        super().__init__(
            f"The journal {path} has schema version {found}, but this polos_nb understands up to "
            f"version {supported}. Upgrade polos_nb (pip install -U polos_nb) to open it."
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.path, self.found, self.supported))


class NonDeterminismError(PolosError):
    """Replay asked for a different step than the journal recorded at that position (D4)."""

    def __init__(
        self,
        execution_id: str,
        position: int,
        recorded: str,
        asked: str,
    ) -> None:
        self.execution_id = execution_id
        self.position = position
        self.recorded = recorded
        self.asked = asked
        super().__init__(
            f"Execution {execution_id} is not deterministic at step position {position}: the "
            f"journal recorded {recorded}, but the code now asks for {asked}. The workflow's "
            "code changed (or depends on something outside a step) since the run started. "
            "Restore the code the run started with, or cancel the run and start a new one."
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.execution_id, self.position, self.recorded, self.asked))


class StepExecutionError(PolosError):
    """A step raised. Catch it in the workflow to recover, or let the execution fail.

    ``StepExecutionError("reason")`` (upstream's form) is an error your own code may
    raise to fail the workflow; ``step_key`` and ``error_type`` are then ``None``.

    Attributes:
        step_key: the failing step's key.
        error_type: qualified name of the original exception type.
        error_message: the original exception's message.
        reason: the whole message (``str(error)``), upstream's name for it.
    """

    def __init__(
        self,
        step_key: str | None = None,
        error_type: str | None = None,
        error_message: str | None = None,
    ) -> None:
        if error_type is None and error_message is None:  # upstream's StepExecutionError(reason)
            self.step_key: str | None = None
            self.error_type: str | None = None
            self.error_message: str | None = step_key
            self.reason: str | None = step_key
            super().__init__(step_key)
            return
        self.step_key = step_key
        self.error_type = error_type
        self.error_message = error_message
        self.reason = f"Step {step_key!r} failed: {error_type}: {error_message}"
        super().__init__(self.reason)

    def __reduce__(self) -> Any:
        return (type(self), (self.step_key, self.error_type, self.error_message))


class ChildWorkflowError(StepExecutionError):
    """A child workflow started with ``invoke_and_wait`` failed."""


class StepTimeoutError(StepExecutionError, TimeoutError):
    """A step ran longer than its ``timeout`` (after its retries, if any)."""


class ExecutionFailedError(PolosError, RuntimeError):
    """The execution you waited for ended in failure."""

    def __init__(self, execution_id: str, error_type: str, error_message: str) -> None:
        self.execution_id = execution_id
        self.error_type = error_type
        self.error_message = error_message
        super().__init__(
            f"Workflow execution failed: {execution_id}: {error_type}: {error_message}"
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.execution_id, self.error_type, self.error_message))


class ExecutionCancelledError(PolosError):
    """The execution was cancelled (by ``client.cancel`` or with its parent)."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        super().__init__(f"Execution {execution_id} was cancelled.")

    def __reduce__(self) -> Any:
        return (type(self), (self.execution_id,))


class ExecutionBlockedError(PolosError):
    """The execution cannot go on until something outside it is fixed; it is not failed.

    Raised to whoever waits for the result. The execution itself waits (status
    ``waiting``, its ``error`` says why), holds no queue slot, can be cancelled, and
    continues by itself once the cause is gone:

    - ``reason="nondeterminism"``: the workflow's code no longer matches its journal
      (:class:`NonDeterminismError`); define the workflow as it was and it replays again;
    - ``reason="missing_class"``: a journaled value's class is not defined
      (:class:`UnresolvedClassError`); run the cell that defines it;
    - ``reason="journal"``: the journal could not be read or written (a full disk, an I/O
      error); it is retried until it works.

    Wait again (``await handle``) after fixing the cause, or cancel the run.
    """

    def __init__(self, execution_id: str, reason: str, error_type: str, detail: str) -> None:
        self.execution_id = execution_id
        self.reason = reason
        self.error_type = error_type
        self.detail = detail
        how = {
            "nondeterminism": "define the workflow as the run started with (run its cell) and "
            "it replays from its journal",
            "missing_class": "run the cell (or import the module) that defines the class and "
            "it continues",
            "journal": "it continues from its last committed step once the journal can be "
            "used again",
        }.get(reason, "it continues once the cause is fixed")
        super().__init__(
            f"Execution {execution_id} is blocked, not failed ({error_type}: {detail}). It waits "
            f"(status 'waiting'): {how}. Wait for it again afterwards, or cancel it with "
            f"client.cancel({execution_id!r})."
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.execution_id, self.reason, self.error_type, self.detail))


class WorkflowTimeoutError(PolosError, TimeoutError):
    """Waiting for an execution's result took longer than the given timeout.

    The execution itself goes on; wait again or cancel it.
    """

    def __init__(
        self,
        execution_id: str | None = None,
        timeout_seconds: float | None = None,
        note: str | None = None,
    ) -> None:
        self.execution_id = execution_id
        self.timeout_seconds = timeout_seconds
        self.note = note  # why it may not have started (a shared journal: no worker defines it)
        within = "in time" if timeout_seconds is None else f"within {timeout_seconds}s"
        super().__init__(
            f"Execution {execution_id or '(unknown)'} did not finish {within}. It keeps "
            "running: wait again with await handle, or stop it with client.cancel(id)."
            + (f" {note}" if note else "")
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.execution_id, self.timeout_seconds, self.note))


class WaitTimeoutError(PolosError, TimeoutError):
    """A suspension, event wait or run passed its deadline. Catchable inside the workflow."""

    def __init__(self, what: str, deadline: str) -> None:
        self.what = what
        self.deadline = deadline
        super().__init__(f"{what} timed out at {deadline}.")

    def __reduce__(self) -> Any:
        return (type(self), (self.what, self.deadline))


class ChannelError(PolosError):
    """A notification channel could not deliver (Slack API error, SMTP refusal, webhook status).

    Raised by a channel's ``notify``/``send_output``; when a run suspends, such failures
    are logged and never fail the run. The message names the channel and what it
    answered, never a token or password.
    """

    def __init__(self, channel_id: str, detail: str) -> None:
        self.channel_id = channel_id
        self.detail = detail
        super().__init__(f"Channel {channel_id!r} could not deliver: {detail}")

    def __reduce__(self) -> Any:
        return (type(self), (self.channel_id, self.detail))


class ModelRequestBlockedError(UserError):
    """A call to a network model provider while model requests are disabled.

    The test suite disables them (``POLOS_NB_ALLOW_MODEL_REQUESTS=0``) so that no test
    reaches a real provider; use ``polos_nb.testing.ScriptedModel`` or ``FunctionModel``.
    """

    def __init__(self, model: str) -> None:
        self.model = model
        super().__init__(
            f"Model requests to network providers are disabled (POLOS_NB_ALLOW_MODEL_REQUESTS=0), "
            f"so {model!r} was not called. Use a test double from polos_nb.testing "
            "(ScriptedModel, FunctionModel) or provider='local', or unset the variable."
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.model,))


class AgentError(PolosError):
    """An agent run cannot go on. Raised inside the run; the execution fails with it."""


class LLMError(AgentError):
    """A model call failed: the provider answered with an error, or could not be reached."""

    def __init__(self, model: str, detail: str) -> None:
        self.model = model
        self.detail = detail
        super().__init__(f"The call to model {model!r} failed: {detail}")

    def __reduce__(self) -> Any:
        return (type(self), (self.model, self.detail))


class LocalModelUnavailableError(LLMError):
    """``provider="local"`` was used, but llama-cpp-python or the Gemma weights are missing."""

    def __init__(self, detail: str) -> None:
        super().__init__("polos-local/gemma3-270m", detail)

    def __reduce__(self) -> Any:
        return (type(self), (self.detail,))


class OutputValidationError(AgentError):
    """The model's reply did not match the agent's ``output_schema``, even after retries."""

    def __init__(self, agent_id: str, attempts: int, detail: str) -> None:
        self.agent_id = agent_id
        self.attempts = attempts
        self.detail = detail
        super().__init__(
            f"Agent {agent_id!r}: the reply did not match output_schema after {attempts} attempts: {detail} "
            "Simplify the schema, describe the fields in the system prompt, or raise output_retries."
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.agent_id, self.attempts, self.detail))


class GuardrailFailedError(AgentError):
    """A guardrail stopped the run (``GuardrailResult.fail``, or its retries ran out)."""

    def __init__(self, guardrail: str, message: str) -> None:
        self.guardrail = guardrail
        self.message = message
        super().__init__(f"Guardrail {guardrail!r} failed: {message}")

    def __reduce__(self) -> Any:
        return (type(self), (self.guardrail, self.message))


class HookFailedError(AgentError):
    """A lifecycle hook returned ``HookResult.fail(...)``."""

    def __init__(self, hook: str, message: str) -> None:
        self.hook = hook
        self.message = message
        super().__init__(f"Hook {hook!r} failed the run: {message}")

    def __reduce__(self) -> Any:
        return (type(self), (self.hook, self.message))


class SandboxError(PolosError, RuntimeError):
    """A sandbox cannot be created or used; the message says what to install or start.

    Also a ``RuntimeError``, which upstream Polos raises when an environment fails."""


class SandboxPathError(SandboxError, PermissionError, ValueError):
    """A sandbox tool was asked for a path outside what it may reach (links resolved).

    Also a ``PermissionError`` and, as upstream Polos raises for path traversal and
    symbolic links out of ``path_restriction``, a ``ValueError``."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        link = " through a symbolic link" if "symbolic link" in reason else ""
        super().__init__(
            f"Refused: {path!r} is outside the sandbox's workspace ({reason}): "
            f"path traversal{link} is not allowed."
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.path, self.reason))


class SandboxFileError(SandboxError, ValueError):
    """A sandbox file tool cannot do what was asked (missing file, binary file, no unique match).

    Also a ``ValueError``, which upstream Polos raises for a binary file or a failed edit."""


class SandboxFileNotFoundError(SandboxFileError, FileNotFoundError):
    """A sandbox file tool was given a path that does not exist (also a ``FileNotFoundError``,
    as reading a missing file raises in upstream Polos)."""
