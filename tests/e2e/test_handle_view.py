"""``stream = await agent.stream(client, "...")`` then ``stream`` on the cell's last line shows
the run's live view in JupyterLab, which follows the run to its end (a screenshot is kept)."""

from __future__ import annotations

from pathlib import Path

from .lab import Lab

SETUP = """
from polos_nb import Agent, tool
from polos_nb.testing import FakeToolCall, ScriptedModel

@tool(description="Get the weather", approval="always")
def get_weather(city: str) -> dict:
    return {"city": city, "temp": 21}

weather = Agent(id="weather", provider="fake", tools=[get_weather],
                model=ScriptedModel([FakeToolCall("get_weather", {"city": "Oslo"}), "Mild in Oslo."]))
"""


def test_a_stream_on_the_last_line_shows_the_live_run(lab: Lab, workdir: Path) -> None:
    path = lab.server.copy_notebook("01_quickstart.ipynb", workdir)
    lab.open(path)
    lab.run_cells([lab.find_cell("%load_ext polos_nb")])
    setup = lab.insert_cell(lab.cell_count(), SETUP)
    shown = lab.insert_cell(
        lab.cell_count(), 'stream = await weather.stream(client, "Weather in Oslo?")\nstream'
    )
    lab.run_cells([setup, shown])
    live = lab.output(shown).locator(".polos-live")
    live.wait_for()
    assert lab.run_view(shown).get_attribute("class") == live.get_attribute("class")
    live.locator('.polos-approval[data-status="pending"]').wait_for()
    assert "weather" in live.locator(".polos-run-title").inner_text()
    assert len(lab.cell_outputs(shown)) == 2  # the snapshot and the widget, no text repr
    lab.snap("stream-live", live)
    toast = lab.page.locator(".Toastify__toast", has_text="weather waits for you")
    toast.first.wait_for(state="visible")  # the extension's notification of the approval
    live.locator(".polos-approve").first.click()  # the form in the view answers the run
    lab.wait_until(
        lambda: live.get_attribute("data-status") == "completed",
        what="the run to complete in its view",
    )
    assert "Mild in Oslo." in live.inner_text()
    # answered: the toast goes now (not 10 s after it came)
    toast.first.wait_for(state="hidden", timeout=5000)
    lab.snap("stream-completed", live)
