"""The layer rules of docs/architecture.md, checked on the source: imports point downward only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "polos_nb"

FOUNDATION = {
    "errors",
    "config",
    "_serde",
    "_clock",
    "_ids",
    "_aliases",
    "_journal_names",
    "_secrets",
    "_tracing",
    "contracts",
}
FORBIDDEN_BY_LAYER = {
    # layer prefix -> modules it must never import
    "foundation": {
        "polos_nb.channels",
        "polos_nb.engine",
        "polos_nb.agents",
        "polos_nb.llm",
        "polos_nb.tools",
        "polos_nb.sandbox",
        "polos_nb.notebook",
        "polos_nb.widgets",
        "polos_nb.testing",
        "IPython",
        "ipywidgets",
        "anywidget",
        "litellm",
        "docker",
    },
    "engine": {
        "polos_nb.channels",
        "polos_nb.agents",
        "polos_nb.llm",
        "polos_nb.tools",
        "polos_nb.sandbox",
        "polos_nb.notebook",
        "polos_nb.widgets",
        "polos_nb.testing",
        "IPython",
        "ipywidgets",
        "anywidget",
        "litellm",
        "docker",
    },
    # llm/ knows nothing of the engine or agents; it is the only place litellm is imported
    "llm": {
        "polos_nb.channels",
        "polos_nb.engine",
        "polos_nb.agents",
        "polos_nb.tools",
        "polos_nb.sandbox",
        "polos_nb.notebook",
        "polos_nb.widgets",
        "polos_nb.testing",
        "IPython",
        "ipywidgets",
        "anywidget",
        "docker",
    },
    # tools/ imports only the foundation
    "tools": {
        "polos_nb.channels",
        "polos_nb.engine",
        "polos_nb.agents",
        "polos_nb.llm",
        "polos_nb.sandbox",
        "polos_nb.notebook",
        "polos_nb.widgets",
        "polos_nb.testing",
        "IPython",
        "ipywidgets",
        "anywidget",
        "litellm",
        "docker",
    },
    # agents/ uses the engine only through its public names (see PRIVATE_ENGINE) and never litellm
    "agents": {
        "polos_nb.channels",
        "polos_nb.sandbox",
        "polos_nb.notebook",
        "polos_nb.widgets",
        "polos_nb.testing",
        "IPython",
        "ipywidgets",
        "anywidget",
        "litellm",
        "docker",
    },
    # channels/ sits on the engine's public names (beside agents/); no Jupyter, no LLMs
    "channels": {
        "polos_nb.agents",
        "polos_nb.llm",
        "polos_nb.tools",
        "polos_nb.sandbox",
        "polos_nb.notebook",
        "polos_nb.widgets",
        "polos_nb.testing",
        "IPython",
        "ipywidgets",
        "anywidget",
        "litellm",
        "docker",
    },
    # upstream Polos's module paths (polos_nb.features.events, polos_nb.types, ...):
    # re-exports of public names, nothing of the notebook layer
    "compat": {
        "polos_nb.notebook",
        "polos_nb.widgets",
        "polos_nb.testing",
        "IPython",
        "ipywidgets",
        "anywidget",
        "litellm",
        "docker",
    },
}
COMPAT_PACKAGES = {"features", "types", "memory", "core", "middleware", "runtime", "execution"}
COMPAT_MODULES = {"polos"}
PRIVATE_ENGINE_BANNED_IN = {"agents", "llm", "tools", "compat", "channels"}
"""Layers that must not import a private engine module (``polos_nb.engine._x``)."""


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    package_parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package_parts[: len(package_parts) - node.level])
                if path.name == "__init__.py":
                    base = list(package_parts[: len(package_parts) - node.level + 1])
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _layer(path: Path) -> str | None:
    rel = path.relative_to(PACKAGE)
    if len(rel.parts) == 1 and rel.stem in FOUNDATION:
        return "foundation"
    if rel.parts[0] in ("engine", "llm", "tools", "agents", "channels"):
        return rel.parts[0]
    if rel.parts[0] in COMPAT_PACKAGES or (len(rel.parts) == 1 and rel.stem in COMPAT_MODULES):
        return "compat"
    return None


def _violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = _layer(path)
        if layer is None:
            continue
        for name in _imports(path):
            for banned in FORBIDDEN_BY_LAYER[layer]:
                if name == banned or name.startswith(banned + "."):
                    found.append(f"{path.relative_to(PACKAGE.parent)} ({layer}) imports {name}")
            if layer in PRIVATE_ENGINE_BANNED_IN and name.startswith("polos_nb.engine._"):
                found.append(f"{path.relative_to(PACKAGE.parent)} ({layer}) imports private {name}")
    return found


def test_only_llm_imports_litellm() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] == "llm":
            continue
        if any(n == "litellm" or n.startswith("litellm.") for n in _imports(path)):
            offenders.append(str(path.relative_to(PACKAGE.parent)))
    assert offenders == []


def test_the_checker_sees_agent_and_tool_violations() -> None:
    bad_agent = PACKAGE / "agents" / "_layering_probe.py"
    bad_tool = PACKAGE / "tools" / "_layering_probe.py"
    bad_agent.write_text("from polos_nb.engine._context import Step\nimport litellm\n")
    bad_tool.write_text("from polos_nb.engine import workflow\n")
    try:
        problems = _violations()
    finally:
        bad_agent.unlink()
        bad_tool.unlink()
    assert any("(agents) imports private polos_nb.engine._context" in p for p in problems)
    assert any("(agents) imports litellm" in p for p in problems)
    assert any("(tools) imports polos_nb.engine" in p for p in problems)


def test_layers_import_downward_only() -> None:
    assert _violations() == []


def test_nothing_imports_testing() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] == "testing":
            continue
        if any(
            n == "polos_nb.testing" or n.startswith("polos_nb.testing.") for n in _imports(path)
        ):
            offenders.append(str(path.relative_to(PACKAGE.parent)))
    assert offenders == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    # The rule above must be able to fail: an engine module importing litellm is reported.
    bad = PACKAGE / "engine" / "_layering_probe.py"
    bad.write_text("import litellm\nfrom ..testing import FakeClock\n")
    try:
        problems = _violations()
    finally:
        bad.unlink()
    assert any("imports litellm" in p for p in problems)
    assert any("imports polos_nb.testing" in p for p in problems)


JUPYTER_MODULES = ("IPython", "ipywidgets", "anywidget", "ipykernel", "comm")
JUPYTER_LAYERS = {"notebook", "widgets"}


def _jupyter_offenders() -> list[str]:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if len(rel.parts) > 1 and rel.parts[0] in JUPYTER_LAYERS:
            continue
        for name in _imports(path):
            if any(name == m or name.startswith(m + ".") for m in JUPYTER_MODULES):
                offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return offenders


def test_only_notebook_and_widgets_import_jupyter() -> None:
    assert _jupyter_offenders() == []


def test_the_jupyter_checker_sees_a_violation() -> None:
    bad = PACKAGE / "agents" / "_layering_probe.py"
    bad.write_text("import anywidget\nfrom IPython.display import display\n")
    try:
        problems = _jupyter_offenders()
    finally:
        bad.unlink()
    assert any("imports anywidget" in p for p in problems)
    assert any("imports IPython.display" in p for p in problems)


def test_notebook_layer_is_not_imported_below() -> None:
    # Nothing under engine/, agents/, llm/, tools/ may reach the Jupyter layer.
    assert not [p for p in _violations() if "polos_nb.notebook" in p or "polos_nb.widgets" in p]
    for layer in ("engine", "agents", "llm", "tools"):
        assert (
            "polos_nb.notebook" in FORBIDDEN_BY_LAYER[layer]
            and "polos_nb.widgets" in FORBIDDEN_BY_LAYER[layer]
        )


def _importers(prefix: str) -> list[str]:
    return sorted(
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if any(n == prefix or n.startswith(prefix + ".") for n in _imports(path))
    )


def test_only_the_postgres_backend_imports_psycopg() -> None:
    assert _importers("psycopg") == ["polos_nb/engine/journal/_postgres.py"]


def test_only_the_tracing_module_imports_opentelemetry() -> None:
    # and lazily: tests/test_tracing.py checks `import polos_nb` imports none of it
    assert _importers("opentelemetry") == ["polos_nb/_tracing.py"]


SERVER_MODULES = ("jupyter_server", "tornado")


def _server_offenders() -> list[str]:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if len(rel.parts) > 1 and rel.parts[0] == "server":
            continue
        for name in _imports(path):
            if any(name == m or name.startswith(m + ".") for m in SERVER_MODULES):
                offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return offenders


def test_only_the_server_extension_imports_jupyter_server_and_tornado() -> None:
    assert _server_offenders() == []


def test_the_server_checker_sees_a_violation() -> None:
    bad = PACKAGE / "notebook" / "_layering_probe.py"
    bad.write_text("import tornado.web\nfrom jupyter_server.base.handlers import APIHandler\n")
    try:
        problems = _server_offenders()
    finally:
        bad.unlink()
    assert any("imports tornado.web" in p for p in problems)
    assert any("imports jupyter_server.base.handlers" in p for p in problems)


def test_nothing_below_the_server_imports_it() -> None:
    # polos_nb.server is the top layer: no other part of polos_nb imports it.
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "server":
            continue
        if any(n == "polos_nb.server" or n.startswith("polos_nb.server.") for n in _imports(path)):
            offenders.append(str(rel))
    assert offenders == []


# ---------------------------------------------------------------------- SQL and the runtime
SQL_RE = re.compile(
    r"\bSELECT\s.+?\sFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\bCREATE\s+TABLE\b|\bALTER\s+TABLE\b",
    re.DOTALL,
)
SQL_ALLOWED = ("engine/journal/", "testing/")
"""Only the journal backends hold SQL (and the test helpers); users' own SQL goes through
``%polos sql`` / ``client.query``, whose help text may show an example query."""


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _sql_offenders() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(SQL_ALLOWED):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        docs = _docstrings(tree)
        for joined in ast.walk(tree):  # an f-string is checked whole, not piece by piece
            if isinstance(joined, ast.JoinedStr):
                docs.update(id(v) for v in joined.values)
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                text = "".join(
                    v.value if isinstance(v, ast.Constant) else " x " for v in node.values
                )
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) in docs:
                    continue
                text = node.value
            else:
                continue
            if "%polos sql" in text:  # the user's own SQL, shown as an example
                continue
            if SQL_RE.search(text):
                found.append(f"{rel}:{node.lineno}: {text[:60]!r}")
    return sorted(set(found))


RUNTIME_FREE = ("notebook", "widgets", "agents", "sandbox", "tools", "llm", "server")
"""Layers that use the client's public API, never the engine's runtime behind it."""


def _runtime_offenders() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] not in RUNTIME_FREE:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("runtime", "_runtime"):
                found.append(f"{rel.as_posix()}:{node.lineno}: .{node.attr}")
    return found


def test_no_sql_outside_the_journal_backends() -> None:
    assert _sql_offenders() == []


def test_no_runtime_access_above_the_engine() -> None:
    assert _runtime_offenders() == []


def test_the_sql_and_runtime_checkers_see_violations() -> None:
    bad = PACKAGE / "notebook" / "_layering_probe.py"
    bad.write_text(
        '"""SELECT id FROM executions is fine in a docstring."""\n'
        "def f(client, run_id):\n"
        '    q = f"SELECT id FROM executions WHERE id = {run_id}"\n'
        "    return client.runtime.journal.read(lambda con: con.execute(q))\n"
        'HELP = "%polos sql SELECT status FROM executions"\n'
    )
    try:
        sql, runtime = _sql_offenders(), _runtime_offenders()
    finally:
        bad.unlink()
    assert [p.split(":")[0:2] for p in sql] == [["notebook/_layering_probe.py", "3"]]
    assert runtime == ["notebook/_layering_probe.py:4: .runtime"]


# ---------------------------------------------------------------------- inside engine/
ENGINE_ORDER = [
    # types, signals, policies and the journal interface
    "_types",
    "_signals",
    "_policy",
    "_topics",
    "_approval_url",
    "_admission",
    "_schedules",
    "_extensions",  # runtime extensions (the channels layer registers one)
    "_host",
    "_error_records",  # journaled errors: their stable names, how replay rebuilds them
    "journal",
    "_delivery",  # journal outcomes handed to the engine loop in batches
    # in-memory records, the workflow registry, the step API
    "_records",
    "_lifecycle_events",  # event rows and the live events made from them
    "_workflow",
    "_context",
    # the runtime's parts: live events, waits, children, reads, starts, parked runs, triggers,
    # schedules, tools
    "_live",
    "_waits",
    "_children",
    "_reads",
    "_starts",
    "_blocking",
    "_endings",  # how runs end (finished, failed, cancelled, retried)
    "_triggers",
    "_scheduler",
    "_journal_tools",
    "_run_record",
    "_inbox",  # resumes and events other processes leave for the journal's owner
    "_workers",  # the runtime as one of several workers sharing a journal
    # the runtime, then the client and the modules users import
    "_runtime",
    "_client",
    "events",
    "schedules",
    "_polos",
    "__init__",
]
"""The dependency order inside ``polos_nb/engine/``: a module imports only modules before it.

Imports made only for the type checker (``if TYPE_CHECKING:``) and imports inside
functions (made when first called) are not load-order dependencies and are not counted.
"""


def _engine_import_order_violations(engine: Path) -> list[str]:
    rank = {name: i for i, name in enumerate(ENGINE_ORDER)}
    found = []
    for path in sorted(engine.glob("*.py")):
        if path.stem not in rank:
            found.append(f"{path.stem} is not placed in ENGINE_ORDER")
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body:  # module level only (not in functions)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            for sub in ast.walk(node):
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    break
                if isinstance(sub, ast.ImportFrom) and sub.level == 1:
                    targets = [sub.module] if sub.module else [a.name for a in sub.names]
                    for target in targets:
                        name = target.split(".")[0]
                        if name in rank and rank[name] >= rank[path.stem]:
                            found.append(f"engine/{path.name} imports {name} (later in the order)")
    for path in sorted((engine / "journal").glob("*.py")):  # the journal needs no engine
        for sub in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(sub, ast.ImportFrom) and (
                sub.level >= 2
                or (
                    (sub.module or "").startswith("polos_nb.engine")
                    and not (sub.module or "").startswith("polos_nb.engine.journal")
                )
            ):
                found.append(f"engine/journal/{path.name} imports {'.' * sub.level}{sub.module}")
    return found


def test_engine_modules_import_in_one_order() -> None:
    assert _engine_import_order_violations(PACKAGE / "engine") == []


def test_the_engine_order_checker_sees_a_violation(tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "engine"
    shutil.copytree(PACKAGE / "engine", copy)
    (copy / "_types.py").write_text("from ._runtime import Runtime\n")
    (copy / "_extra.py").write_text("")
    (copy / "journal" / "_probe.py").write_text("from .._runtime import Runtime\n")
    problems = _engine_import_order_violations(copy)
    assert "engine/_types.py imports _runtime (later in the order)" in problems
    assert "_extra is not placed in ENGINE_ORDER" in problems
    assert "engine/journal/_probe.py imports .._runtime" in problems
