"""IPython magics: ``%%polos_agent`` and ``%polos <subcommand>``.

Thin by design (docs/architecture.md, house rules): each magic parses its arguments, calls the plain-Python
function that does the work (``polos_nb.notebook.*``, ``polos_nb.approve``), and shows the
result. Bad arguments raise ``UsageError``. ``%polos?`` and ``%%polos_agent?`` print the
docstrings below.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    cell_magic,
    line_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
)
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Float

from polos_nb.config import redact_url
from polos_nb.errors import PolosError

from . import _session

__all__ = ["PolosMagics"]

SUBCOMMANDS = (
    "run",
    "runs",
    "show",
    "inspect",
    "approve",
    "reject",
    "pending",
    "resume",
    "cancel",
    "replay",
    "fork",
    "compare",
    "events",
    "sql",
    "journal",
    "list",
    "help",
    "version",
)

POLOS_USAGE = """\
%polos run [-o NAME] [-e] [--no-stream] TARGET [INPUT]
    Start an agent or workflow (a name in the namespace or a registered id) on INPUT and
    return at once with a live run widget. Agent input is the text as written; workflow
    input is a Python expression (e.g. {"id": 7} or a variable). -e evaluates agent input
    as an expression too. -o NAME binds the Run to NAME. The magic returns the Run.
%polos runs [--status S] [--workflow W] [--limit N] [--all]
    Recent runs as a DataFrame (--all includes child runs).
%polos show RUN              The live widget of an existing run.
%polos inspect RUN           Inspector: steps, inputs, outputs, timings, LLM calls with tokens.
%polos pending [RUN]         Pending approvals (of one run, or of the journal).
%polos approve RUN [KEY] [DATA] [--always] [--feedback TEXT]
    Answer a suspension; DATA is JSON or a Python expression for the form's fields.
    The answer is validated against the form first (ApprovalValidationError if not).
%polos reject RUN [KEY] [--feedback TEXT]
%polos resume                Show interrupted runs and pending approvals again (as on load).
%polos resume RUN KEY [DATA] Deliver DATA to the suspension KEY (= approve).
%polos cancel RUN            Cancel a run and its children.
%polos replay RUN            Replay a finished run from its journal (no side effects).
%polos fork RUN --at STEP [--result EXPR]
    Fork RUN at STEP (a key or a position); --result (the rest of the line: JSON or a Python
    expression) replaces that step's result. Returns the new Run.
%polos compare RUN_A RUN_B   Two runs side by side.
%polos events RUN            A run's events as a DataFrame.
%polos sql QUERY             A read-only SQL query over the journal, as a DataFrame.
%polos journal [PATH]        Show (or switch) this session's journal.
%polos list                  Agents and workflows defined in this kernel.
%polos help | version
RUN may be a full execution id, a unique prefix, or a variable holding a Run, a handle,
an AgentResult or an id.
"""

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|\S+')


def _tokens(line: str) -> list[tuple[str, int, int]]:
    return [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(line)]


def _comment_hint(rest: str) -> str:
    """What to add to an error about a line with an unquoted ``#`` word in it: IPython hands
    a line magic its whole line, so ``%polos inspect RUN  # look`` passes ``# look`` too."""
    if any(tok.startswith("#") for tok, _, _ in _tokens(rest)):
        return (
            " (a '#' in a magic line is part of its input, not a comment: put the comment "
            "on a line of its own)"
        )
    return ""


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        try:
            return str(shlex.split(text)[0])
        except ValueError:
            return text[1:-1]
    return text


def _split(
    line: str,
    positional: int,
    flags: set[str],
    valued: set[str],
    rest_option: str | None = None,
) -> tuple[list[str], dict[str, Any], str]:
    """Options and ``positional`` leading words; the remainder of the line stays raw.

    ``rest_option`` (e.g. ``--result``) swallows the rest of the line as its value.
    """
    words: list[str] = []
    opts: dict[str, Any] = {}
    toks = _tokens(line)
    i = 0
    while i < len(toks):
        tok, start, _end = toks[i]
        if tok == rest_option:
            opts[tok] = line[toks[i][2] :].strip() if i + 1 < len(toks) else ""
            return words, opts, ""
        if tok.startswith("-") and not re.match(r"^-\d", tok):
            if tok in flags:
                opts[tok] = True
            elif tok in valued:
                if i + 1 >= len(toks):
                    raise UsageError(f"option {tok} needs a value")
                opts[tok] = _unquote(toks[i + 1][0])
                i += 1
            else:
                known = sorted(flags | valued | ({rest_option} if rest_option else set()))
                raise UsageError(
                    f"unknown option {tok}; options here: {', '.join(known) or 'none'}"
                )
            i += 1
            continue
        if len(words) < positional:
            words.append(_unquote(tok))
            i += 1
            continue
        rest = line[start:].strip()
        # options may also follow the data (e.g. approve RUN KEY {...} --always)
        trailing = _trailing_options(rest, flags, valued)
        rest, more = trailing
        opts.update(more)
        return words, opts, rest
    return words, opts, ""


def _trailing_options(rest: str, flags: set[str], valued: set[str]) -> tuple[str, dict[str, Any]]:
    opts: dict[str, Any] = {}
    changed = True
    while changed:
        changed = False
        toks = _tokens(rest)
        if not toks:
            break
        last = toks[-1][0]
        if last in flags:
            opts[last] = True
            rest = rest[: toks[-1][1]].rstrip()
            changed = True
        elif len(toks) >= 2 and toks[-2][0] in valued:
            opts[toks[-2][0]] = _unquote(last)
            rest = rest[: toks[-2][1]].rstrip()
            changed = True
    return rest, opts


def _display(obj: Any) -> None:
    from IPython.display import display

    display(obj)


@magics_class
class PolosMagics(Magics):
    """polos_nb magics. Configure with ``%config PolosMagics.<trait> = ...``."""

    resume_on_load = Bool(True, help="List and show unfinished runs when the extension loads.").tag(
        config=True
    )
    flush_interval = Float(0.08, help="Seconds between widget updates of a streaming run.").tag(
        config=True
    )
    warm_up = Bool(
        True,
        help="On load, do in a background thread what the first agent run does for the "
        "first time (litellm's import takes seconds), so that run does not wait for it.",
    ).tag(config=True)
    warm_up_journal = Bool(
        True,
        help="With warm_up, in a Jupyter kernel: also open (create) the session's journal "
        "in that thread, instead of on first use. The kernel then holds it from the load.",
    ).tag(config=True)

    # ================================================================== helpers
    def _ns(self) -> dict[str, Any]:
        return self.shell.user_ns if self.shell is not None else {}

    def _eval(self, expr: str, what: str) -> Any:
        expr = expr.strip()
        if not expr:
            return None
        try:
            return eval(expr, self._ns())
        except Exception as exc:
            try:
                return json.loads(expr)
            except Exception:
                pass
            raise UsageError(
                f"could not evaluate {what} {expr!r}: {type(exc).__name__}: {exc}"
            ) from None

    def _run_id(self, ref: str) -> str:
        from ._run import Run

        value = self._ns().get(ref)
        if (
            isinstance(value, Run)
            or hasattr(value, "root_execution_id")  # a handle
            or isinstance(getattr(value, "agent_run_id", None), str)  # an AgentResult
        ):
            return _session.run_id_of(value)
        if isinstance(value, str) and value.strip():  # a variable holding an id
            ref = value.strip()
        elif ref.startswith("{") and ref.endswith("}"):
            raise UsageError(
                f"IPython left {ref} as written: the expression in the braces could not be "
                "evaluated (a misspelt name or attribute? an AgentResult's id is "
                "`.agent_run_id`). Give the run's id or its prefix, or the name of a variable "
                "holding a Run, a handle, an AgentResult or an id."
            )
        try:
            return _session.resolve_run_id(_session.get_client(), ref)
        except PolosError as exc:
            raise UsageError(str(exc)) from None

    def _target(self, name: str) -> Any:
        from polos_nb.engine import Workflow, get_all_workflows, get_workflow

        value = self._ns().get(name)
        if isinstance(value, Workflow):
            return value
        wf = get_workflow(name)
        if wf is None:
            known = sorted(
                set(get_all_workflows())
                | {
                    k
                    for k, v in self._ns().items()
                    if isinstance(v, Workflow) and not k.startswith("_")
                }
            )
            raise UsageError(
                f"no agent or workflow named {name!r}; defined: {', '.join(known) or 'none'}"
            )
        return wf

    # ================================================================== %%polos_agent
    @magic_arguments()
    @argument("name", help="Python name the Agent is bound to (also its id unless --id).")
    @argument(
        "-p",
        "--provider",
        default=None,
        help="openai, anthropic, gemini, groq, fireworks, together, "
        "azure, local, fake or litellm (default: fake if --model names a test double, else openai).",
    )
    @argument(
        "-m",
        "--model",
        default=None,
        help="Model name, or a variable holding a ScriptedModel/FunctionModel.",
    )
    @argument(
        "-t",
        "--tools",
        nargs="*",
        default=[],
        help="Tool names from the namespace (space or comma separated).",
    )
    @argument(
        "-o",
        "--output",
        default=None,
        help="Output schema: a Pydantic class name from the namespace.",
    )
    @argument("--max-steps", type=int, default=None, help="Stop after this many agent steps.")
    @argument(
        "--max-tokens", type=int, default=None, help="Stop once the run used this many tokens."
    )
    @argument(
        "--stop",
        nargs="*",
        default=[],
        help="More stop conditions: names of StopCondition objects.",
    )
    @argument(
        "--guardrails", nargs="*", default=[], help="Output guardrails: names from the namespace."
    )
    @argument("--temperature", type=float, default=None, help="Sampling temperature.")
    @argument("--id", dest="agent_id", default=None, help="Agent id (default: NAME).")
    @argument("--description", default=None, help="Description (default: the system prompt).")
    @cell_magic
    def polos_agent(self, line: str, cell: str) -> None:
        """Define an Agent: the cell body is its system prompt; binds it to NAME.

        ```
        %%polos_agent weather --model gpt-4o-mini --tools get_weather --max-steps 5
        You are a helpful weather assistant. Answer in one sentence.
        ```

        Plain Python: ``weather = Agent(id="weather", provider=..., model=...,
        system_prompt=..., tools=[get_weather], stop_conditions=[max_steps(...)])``.
        """
        from polos_nb.agents import Agent, StopCondition, max_steps, max_tokens
        from polos_nb.agents.stop_conditions import MaxStepsConfig, MaxTokensConfig
        from polos_nb.tools import Tool

        args = parse_argstring(self.polos_agent, line)
        name = args.name
        if not name.isidentifier():
            raise UsageError(f"NAME must be a Python identifier, got {name!r}")
        prompt = (cell or "").strip()
        if not prompt:
            raise UsageError(
                f"%%polos_agent {name}: the cell body is the system prompt and it is empty"
            )
        ns = self._ns()
        tools = []
        for tool_name in [t for raw in args.tools for t in raw.split(",") if t]:
            value = ns.get(tool_name)
            if not isinstance(value, Tool):
                known = sorted(
                    k for k, v in ns.items() if isinstance(v, Tool) and not k.startswith("_")
                )
                what = (
                    "is not defined"
                    if value is None
                    else f"is a {type(value).__name__}, not a @tool"
                )
                raise UsageError(
                    f"tool {tool_name!r} {what}; tools in the namespace: {', '.join(known) or 'none'}"
                )
            tools.append(value)
        model: Any = args.model
        provider = args.provider
        if isinstance(model, str) and model in ns and hasattr(ns[model], "litellm_model"):
            model = ns[model]
            provider = provider or "fake"
        if model is None:
            raise UsageError(
                f"%%polos_agent {name}: give --model (a model name such as gpt-4o-mini, or a "
                "variable holding a ScriptedModel/FunctionModel for offline runs)"
            )
        provider = provider or "openai"
        output = None
        if args.output:
            from pydantic import BaseModel

            output = ns.get(args.output)
            if not (isinstance(output, type) and issubclass(output, BaseModel)):
                raise UsageError(
                    f"--output {args.output!r} must name a Pydantic model class in the namespace"
                )
        if args.max_steps is not None and args.max_steps < 1:
            raise UsageError(f"--max-steps must be at least 1 (got {args.max_steps})")
        if args.max_tokens is not None and args.max_tokens < 1:
            raise UsageError(f"--max-tokens must be at least 1 (got {args.max_tokens})")
        if args.temperature is not None and not (
            math.isfinite(args.temperature) and args.temperature >= 0
        ):
            raise UsageError(
                f"--temperature must be a number of 0 or more, e.g. 0.2 (got {args.temperature})"
            )
        stops = []
        if args.max_steps is not None:
            stops.append(max_steps(MaxStepsConfig(limit=args.max_steps)))
        if args.max_tokens is not None:
            stops.append(max_tokens(MaxTokensConfig(limit=args.max_tokens)))
        for stop_name in args.stop:
            cond = ns.get(stop_name)
            if not isinstance(cond, StopCondition):
                raise UsageError(
                    f"--stop {stop_name!r} must name a StopCondition object in the namespace"
                )
            stops.append(cond)
        guardrails = []
        for g_name in args.guardrails:
            if g_name not in ns:
                raise UsageError(f"--guardrails {g_name!r} is not defined in the namespace")
            guardrails.append(ns[g_name])
        kwargs: dict[str, Any] = {}
        if args.temperature is not None:
            kwargs["temperature"] = args.temperature
        try:
            agent = Agent(
                id=args.agent_id or name,
                provider=provider,
                model=model,
                system_prompt=prompt,
                tools=tools,
                output_schema=output,
                stop_conditions=stops,
                guardrails=guardrails or None,
                description=args.description,
                **kwargs,
            )
        except PolosError as exc:
            raise UsageError(str(exc)) from None
        ns[name] = agent

    # ================================================================== %polos
    def _expand(self, line: str, local_ns: Any) -> str:
        """IPython's ``{expr}`` / ``$name`` expansion of the line, except that a ``$`` not
        followed by a name stays as it is (``'$.v.usage'`` is a JSON path in ``%polos sql``):
        IPython would give up on the whole line there, leaving ``{run.id}`` unexpanded."""
        from IPython.utils.text import DollarFormatter

        ns = dict(self._ns())
        ns.update(local_ns or {})
        protected = re.sub(r"\$(?![A-Za-z_{$])", "$$", line)
        try:
            return str(DollarFormatter().vformat(protected, args=[], kwargs=ns))
        except Exception:  # e.g. a JSON literal: {"n": 3} is not an expression to expand
            return line

    @line_magic
    @needs_local_scope
    @no_var_expand
    def polos(self, line: str, local_ns: Any = None) -> Any:
        """polos_nb: run, watch, approve and inspect durable agents and workflows.

        See the subcommands below; ``%polos help`` prints them too. Every subcommand has a
        plain-Python twin in ``polos_nb.notebook`` (``start``, ``runs``, ``show``,
        ``inspect``, ``events``, ``sql``, ``replay``, ``fork``, ``compare``) and
        ``polos_nb.approve``.
        """
        line = self._expand(line, local_ns).strip()
        if not line:
            raise UsageError(
                "%polos needs a subcommand: " + ", ".join(SUBCOMMANDS) + " (see %polos help)"
            )
        sub, _, rest = line.partition(" ")
        rest = rest.strip()
        handler = getattr(self, f"_cmd_{sub}", None)
        if sub not in SUBCOMMANDS or handler is None:
            raise UsageError(f"unknown subcommand {sub!r}; use one of: {', '.join(SUBCOMMANDS)}")
        try:
            return handler(rest)
        except UsageError as exc:
            hint = _comment_hint(rest)
            if hint:
                raise UsageError(f"{exc}{hint}") from None
            raise
        except PolosError as exc:
            raise UsageError(f"{type(exc).__name__}: {exc}{_comment_hint(rest)}") from exc

    # ------------------------------------------------------------------ subcommands
    def _cmd_help(self, rest: str) -> None:
        print(POLOS_USAGE)

    def _cmd_version(self, rest: str) -> str:
        import polos_nb

        return str(polos_nb.__version__)

    def _cmd_list(self, rest: str) -> Any:
        from polos_nb.engine import get_all_workflows

        from ._tools import _frame

        rows = [
            {
                "id": wf_id,
                "type": getattr(wf, "workflow_type", "workflow"),
                "model": getattr(wf, "litellm_model", None),
                "tools": ", ".join(t.id for t in getattr(wf, "tools", []) or []),
            }
            for wf_id, wf in sorted(get_all_workflows().items())
        ]
        return _frame(rows, ["id", "type", "model", "tools"])

    def _cmd_run(self, rest: str) -> Any:
        from ._run import start

        words, opts, raw = _split(rest, 1, {"-e", "--expr", "--no-stream"}, {"-o", "--out"})
        if not words:
            raise UsageError("%polos run TARGET [INPUT]: give the agent or workflow to run")
        target = self._target(words[0])
        if getattr(target, "workflow_type", "workflow") == "agent" and not (
            opts.get("-e") or opts.get("--expr")
        ):
            payload: Any = _unquote(raw) if raw else ""
            if not payload:
                raise UsageError(
                    f"%polos run {words[0]}: give the agent an input, e.g. %polos run {words[0]} Hello"
                )
        else:
            payload = self._eval(raw, "the input")
        run = start(target, payload, stream=not opts.get("--no-stream"))
        run.state.interval = self.flush_interval
        name = opts.get("-o") or opts.get("--out")
        if name:
            if not str(name).isidentifier():
                raise UsageError(f"-o needs a Python name, got {name!r}")
            self._ns()[name] = run
        _display(run)
        return run

    def _cmd_runs(self, rest: str) -> Any:
        from ._tools import runs

        _words, opts, raw = _split(rest, 0, {"--all"}, {"--status", "--workflow", "--limit"})
        if raw:
            raise UsageError(f"%polos runs takes only options, got {raw!r}")
        try:
            limit = int(opts.get("--limit", 50))
        except ValueError:
            raise UsageError("--limit needs a whole number, e.g. --limit 20") from None
        if limit < 1:
            raise UsageError(f"--limit must be at least 1 (got {limit})")
        return runs(
            opts.get("--status"),
            workflow=opts.get("--workflow"),
            limit=limit,
            children=bool(opts.get("--all")),
        )

    def _one_run(self, rest: str, cmd: str) -> str:
        words, _opts, raw = _split(rest, 1, set(), set())
        if not words or raw:
            raise UsageError(f"%polos {cmd} RUN: give one run id")
        return self._run_id(words[0])

    def _cmd_show(self, rest: str) -> Any:
        from ._run import show

        run = show(self._one_run(rest, "show"))
        _display(run)
        return run

    def _cmd_inspect(self, rest: str) -> Any:
        from ._tools import inspect

        return inspect(self._one_run(rest, "inspect"))

    def _cmd_events(self, rest: str) -> Any:
        from ._tools import events

        return events(self._one_run(rest, "events"))

    def _cmd_cancel(self, rest: str) -> bool:
        run_id = self._one_run(rest, "cancel")
        client = _session.get_client()
        return bool(_session.call(client, client.cancel(run_id)))

    def _cmd_replay(self, rest: str) -> Any:
        from ._tools import replay

        return replay(self._one_run(rest, "replay"))

    def _cmd_pending(self, rest: str) -> Any:
        from ._approve import pending_approvals

        words, _opts, raw = _split(rest, 1, set(), set())
        if raw:
            raise UsageError("%polos pending [RUN]")
        return pending_approvals(self._run_id(words[0]) if words else None)

    def _approve_args(self, rest: str, cmd: str) -> tuple[str, str | None, Any, dict[str, Any]]:
        words, opts, raw = _split(rest, 2, {"--always", "--reject"}, {"--feedback", "-f"})
        if not words:
            raise UsageError(f"%polos {cmd} RUN [KEY] [DATA]: give the run")
        run_id = self._run_id(words[0])
        key = words[1] if len(words) > 1 else None
        if key is not None and key[:1] in "{[":
            raw = (key + " " + raw).strip()
            key = None
        data = self._eval(raw, "the answer") if raw else None
        return run_id, key, data, opts

    def _cmd_approve(self, rest: str) -> Any:
        from ._approve import approve

        run_id, key, data, opts = self._approve_args(rest, "approve")
        return approve(
            run_id,
            key,
            data,
            reject=bool(opts.get("--reject")),
            always=bool(opts.get("--always")),
            feedback=opts.get("--feedback") or opts.get("-f"),
        )

    def _cmd_reject(self, rest: str) -> Any:
        from ._approve import approve

        run_id, key, data, opts = self._approve_args(rest, "reject")
        if data is not None:
            raise UsageError("%polos reject RUN [KEY] [--feedback TEXT]: no data")
        return approve(run_id, key, reject=True, feedback=opts.get("--feedback") or opts.get("-f"))

    def _cmd_resume(self, rest: str) -> Any:
        if rest:
            from ._approve import approve

            run_id, key, data, _opts = self._approve_args(rest, "resume")
            if key is None:
                raise UsageError("%polos resume RUN KEY [DATA]: give the suspension key")
            return approve(run_id, key, data)
        return show_unfinished(always=True)

    def _cmd_fork(self, rest: str) -> Any:
        from ._tools import fork

        words, opts, raw = _split(rest, 1, set(), {"--at", "--payload"}, rest_option="--result")
        if not words or raw:
            raise UsageError("%polos fork RUN --at STEP [--result EXPR]")
        if "--at" not in opts:
            raise UsageError("%polos fork needs --at STEP (a step key or a position)")
        at: Any = opts["--at"]
        if isinstance(at, str) and at.isdigit():
            at = int(at)
        kwargs: dict[str, Any] = {}
        if "--payload" in opts:
            kwargs["payload"] = self._eval(opts["--payload"], "the payload")
        run_id = self._run_id(words[0])
        if "--result" in opts:
            if not opts["--result"]:
                raise UsageError("--result needs a value (JSON or a Python expression)")
            run = fork(run_id, at, self._eval(opts["--result"], "the result"), **kwargs)
        else:
            run = fork(run_id, at, **kwargs)
        _display(run)
        return run

    def _cmd_compare(self, rest: str) -> Any:
        from ._tools import compare

        words, _opts, raw = _split(rest, 2, set(), set())
        if len(words) != 2 or raw:
            raise UsageError("%polos compare RUN_A RUN_B")
        return compare(self._run_id(words[0]), self._run_id(words[1]))

    def _cmd_sql(self, rest: str) -> Any:
        from ._tools import sql

        if not rest:
            raise UsageError(
                "%polos sql QUERY, e.g. %polos sql SELECT status, count(*) FROM executions GROUP BY 1"
            )
        return sql(rest)

    def _cmd_journal(self, rest: str) -> str:
        if rest:
            path = _unquote(rest)
            if not path.strip():
                raise UsageError(
                    "%polos journal PATH: the path is empty; give a file path such as "
                    "notes.duckdb (or no argument to show the current journal)"
                )
            _session.set_journal(path)
        return redact_url(_session.journal_path())


for _name in SUBCOMMANDS:
    assert hasattr(PolosMagics, f"_cmd_{_name}"), _name
PolosMagics.polos.__doc__ = (PolosMagics.polos.__doc__ or "") + "\n" + POLOS_USAGE


def show_unfinished(*, always: bool = False) -> Any:
    """Display unfinished runs (each with its widget and forms); returns the listing."""
    from ._restart import unfinished

    found = unfinished()
    if found or always:
        _display(found)
        from ._display import display_runs

        display_runs(found.runs)
    return found if always else None


def complete(ip: Any, context: Any) -> dict[str, Any]:
    """Tab completion for ``%polos`` subcommands, agent/workflow names and run ids."""
    from IPython.core.completer import SimpleCompletion

    line = context.line_with_cursor[: context.cursor_position]
    stripped = line.lstrip()
    empty: dict[str, Any] = {"completions": [], "suppress": False}
    if not (stripped.startswith(("%polos ", "%%polos_agent "))):
        return empty
    token = context.token
    parts = stripped.split()
    if stripped.startswith("%%polos_agent"):
        if (len(parts) >= 2 and parts[-2] in ("-t", "--tools")) or (
            line.endswith(" ") and parts[-1] in ("-t", "--tools")
        ):
            from polos_nb.tools import Tool

            names = [
                k for k, v in ip.user_ns.items() if isinstance(v, Tool) and not k.startswith("_")
            ]
            return {
                "completions": [
                    SimpleCompletion(n, type="tool") for n in sorted(names) if n.startswith(token)
                ],
                "suppress": True,
            }
        return empty
    at_word = len(parts) - (0 if line.endswith(" ") else 1)
    if at_word <= 1:
        return {
            "completions": [
                SimpleCompletion(s, type="subcommand") for s in SUBCOMMANDS if s.startswith(token)
            ],
            "suppress": True,
        }
    sub = parts[1]
    candidates: list[tuple[str, str]] = []
    if sub == "run" and at_word == 2:
        from polos_nb.engine import Workflow, get_all_workflows

        flows = {
            k for k, v in ip.user_ns.items() if isinstance(v, Workflow) and not k.startswith("_")
        }
        flows |= set(get_all_workflows())
        candidates = [(n, "agent") for n in sorted(flows)]
    elif sub in (
        "show",
        "inspect",
        "approve",
        "reject",
        "cancel",
        "replay",
        "fork",
        "compare",
        "events",
        "resume",
        "pending",
    ):
        candidates = [(rid, "run") for rid in _recent_run_ids()]
    return {
        "completions": [SimpleCompletion(c, type=t) for c, t in candidates if c.startswith(token)],
        "suppress": bool(candidates),
    }


def _recent_run_ids(limit: int = 30) -> list[str]:
    from ._run import known_runs

    ids = [r.id for r in reversed(known_runs())]
    if _session.has_client():
        try:
            client = _session.get_client()
            recent = _session.call(client, client.recent_runs(limit), timeout=2)
            ids += [info.id for info in recent]
        except Exception:
            pass
    seen: set[str] = set()
    return [i for i in ids if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]
