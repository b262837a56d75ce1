"""Item 11, the look and feel, in JupyterLab's light and dark themes.

- every status badge (running, waiting, completed, failed) and the secondary text read
  with enough contrast in both themes (measured on the rendered colours);
- a slow model call is a running step of the timeline while it lasts, with its time so
  far; a suspension is listed while it waits;
- a form's description renders its Markdown.
"""

from __future__ import annotations

from pathlib import Path

from .lab import Lab

SETUP = """
import asyncio, os
from polos_nb import Agent, workflow, WorkflowContext
from polos_nb.testing import FunctionModel

async def slow(messages, info):
    while os.path.exists("hold.flag"):  # a slow model call: until the test lets it end
        await asyncio.sleep(0.1)
    return "Done thinking."

thinker = Agent(id="thinker", provider="fake", model=FunctionModel(slow, name="slow-thinker"))

@workflow(id="asks")
async def asks(ctx: WorkflowContext, payload: dict) -> str:
    await ctx.step.suspend("confirm", data={"_form": {
        "title": "Go on?", "description": "Reply **yes** to go on, see [the docs](https://example.com)."}})
    return "ok"

@workflow(id="breaks")
async def breaks(ctx: WorkflowContext, payload: dict) -> int:
    return await ctx.step.run("boom", lambda: 1 // 0)
"""

# WCAG contrast of an element's text against what is behind it (alpha composited).
CONTRAST = """
(el) => {
  const parse = (c) => {
    let m = c.match(/^rgba?\\(([^)]+)\\)$/);
    if (m) { const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; }
    m = c.match(/^color\\(srgb ([^)]+)\\)$/);
    if (m) { const p = m[1].split(/[ /]+/).filter(Boolean).map(Number); return [p[0] * 255, p[1] * 255, p[2] * 255, p.length > 3 ? p[3] : 1]; }
    throw new Error("colour " + c);
  };
  const over = (top, below) => { const a = top[3]; return [0, 1, 2].map((i) => top[i] * a + below[i] * (1 - a)).concat([1]); };
  const backdrop = (node) => {
    const layers = [];
    for (let n = node; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let base = [255, 255, 255, 1];
    for (const layer of layers.reverse()) base = over(layer, base);
    return base;
  };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const bg = backdrop(el);
  const fg = over(parse(getComputedStyle(el).color), bg);
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}
"""


def test_the_run_views_read_well_in_light_and_dark(lab: Lab, workdir: Path) -> None:
    hold = workdir / "hold.flag"
    hold.write_text("")
    path = lab.server.copy_notebook("01_quickstart.ipynb", workdir)
    lab.open(path)
    lab.run_cells([lab.find_cell("%load_ext polos_nb"), lab.find_cell('@workflow(id="greet")')])
    greet = lab.find_cell("run = %polos run greet")
    lab.run_cell(greet)
    cells = []
    for source in (
        SETUP,
        "r1 = %polos run thinker Think hard",
        "r2 = %polos run asks {}",
        "r3 = %polos run breaks {}",
    ):
        cells.append(lab.insert_cell(lab.cell_count(), source))
    _setup, thinking, asking, breaking = cells
    lab.run_cells(cells)

    # the slow model call: a running step with its time so far, while it lasts
    step = lab.output(thinking).locator('.polos-live .polos-step[data-key="llm:1"]')
    step.wait_for()
    assert step.get_attribute("data-status") == "running"
    lab.wait_until(
        lambda: step.locator(".polos-step-duration").inner_text().endswith(" s"),
        what="the running step's time to count seconds",
    )
    # the suspension: a waiting step, and the form's description in Markdown
    ask = lab.output(asking).locator(".polos-live")
    ask.locator('.polos-step[data-key="confirm"][data-status="waiting"]').wait_for()
    description = ask.locator(".polos-approval-description")
    assert description.locator("strong").inner_text() == "yes"
    assert description.locator("a").get_attribute("href") == "https://example.com"
    assert "**" not in description.inner_text()
    lab.wait_until(
        lambda: lab.run_view(breaking).get_attribute("data-status") == "failed",
        what="the failing run to show failed",
    )

    badges = {
        "running": lab.output(thinking).locator(".polos-live .polos-run-status"),
        "waiting": ask.locator(".polos-run-status"),
        "completed": lab.run_view(greet).locator(".polos-run-status"),
        "failed": lab.run_view(breaking).locator(".polos-run-status"),
    }
    for theme in ("light", "dark"):
        lab.set_theme(theme)
        if theme == "dark":
            lab.snap("views", lab.page.locator(".jp-NotebookPanel"), themes=("dark",))
        else:
            lab.snap("views", lab.page.locator(".jp-NotebookPanel"))
        for status, badge in badges.items():
            assert badge.get_attribute("data-status") == status
            ratio = badge.evaluate(CONTRAST)
            assert ratio >= 4.5, f"{theme}: the {status} badge's contrast is {ratio:.2f}"
        detail = ask.locator(".polos-step-kind").first
        assert detail.evaluate(CONTRAST) >= 3.0, f"{theme}: secondary text too faint"
    lab.set_theme("light")
    hold.unlink()  # the model call ends: its step completes
    lab.wait_js(
        f"() => window.jupyterapp.shell.currentWidget.content.widgets[{thinking}].node"
        ".querySelector('.polos-live .polos-step[data-key=\"llm:1\"]')?.dataset.status === 'completed'",
        what="the slow step to complete",
    )


CARD_SETUP = """
from pydantic import BaseModel
from polos_nb import Agent, tool
from polos_nb.testing import ScriptedModel, FakeToolCall

class Sum(BaseModel):
    total: int
    note: str

@tool
def add(a: int, b: int) -> int:
    \"\"\"Add two numbers.\"\"\"
    return a + b

adder = Agent(id="adder", provider="fake", tools=[add], output_schema=Sum,
              model=ScriptedModel([FakeToolCall("add", {"a": 2, "b": 3}), {"total": 5, "note": "done"}]))
"""


def test_an_agent_result_shows_as_a_card_in_light_and_dark(lab: Lab, workdir: Path) -> None:
    path = lab.server.copy_notebook("01_quickstart.ipynb", workdir)
    lab.open(path)
    lab.run_cells([lab.find_cell("%load_ext polos_nb")])
    setup = lab.insert_cell(lab.cell_count(), CARD_SETUP)
    shown = lab.insert_cell(lab.cell_count(), 'r = await adder.run(client, "2+3?")\nr')
    info_cell = lab.insert_cell(
        lab.cell_count(), "info = await client.get_execution(r.agent_run_id)\ninfo"
    )
    lab.run_cells([setup, shown, info_cell])
    card = lab.output(shown).locator(".polos-result")
    card.wait_for()
    info = lab.output(info_cell).locator(".polos-result")  # the run's ExecutionInfo
    info.wait_for()
    assert info.get_attribute("data-status") == "completed"
    assert "agent adder" in info.inner_text()
    assert "messages" not in info.inner_text()  # an agent's answer, not its every field
    assert card.get_attribute("data-status") == "completed"
    assert "total" in card.locator(".polos-result-answer").inner_text()
    assert card.locator("table tr").count() >= 2  # the answer's fields, the tool call
    for theme in ("light", "dark"):
        lab.set_theme(theme)  # checked in this theme; the screenshots (which reset it) last
        badge = card.locator(".polos-result-badge")
        assert badge.evaluate(CONTRAST) >= 4.5, f"{theme}: the result badge's contrast"
        meta = card.locator(".polos-result-meta").first
        assert meta.evaluate(CONTRAST) >= 3.0, f"{theme}: the card's secondary text"
        answer = card.locator(".polos-result-answer td").first
        assert answer.evaluate(CONTRAST) >= 4.5, f"{theme}: the answer's text"
        badge = info.locator(".polos-result-badge")
        assert badge.evaluate(CONTRAST) >= 4.5, f"{theme}: the execution's badge contrast"
        head = info.locator(".polos-result-head b")
        assert head.evaluate(CONTRAST) >= 4.5, f"{theme}: the execution card's title"
        lab.snap("agent-result", card, themes=(theme,))
        lab.snap("execution-info", info, themes=(theme,))
    lab.set_theme("light")
