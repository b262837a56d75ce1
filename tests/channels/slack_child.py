"""Child-process side of ``test_restarts.py``: an agent served to Slack from a script.

    python -m tests.channels.slack_child <journal> <slack api url> <mode>

Defines the agent ``slack-oracle``, opens the journal with a Slack channel on the given
(loopback) Web API, serves Slack's request URLs with ``serve_slack`` on a free port and
prints ``{"port": n}``. With mode ``kill_after_start`` it SIGKILLs itself right after the
journal's next commit: the start of the run a mention asks for, before Slack is answered.
"""

from __future__ import annotations

import asyncio
import json
import sys

from polos_nb import Agent, PolosClient
from polos_nb.channels import SlackChannel, SlackChannelConfig, serve_slack
from polos_nb.testing import ScriptedModel, kill_at_commit
from tests.channels.fakes import BOT_TOKEN, SIGNING_SECRET

AGENT_ID = "slack-oracle"

model = ScriptedModel("slack-child-model", ["The answer is 42."])
agent = Agent(id=AGENT_ID, provider="fake", model=model)


async def main(journal: str, api: str, mode: str) -> None:
    slack = SlackChannel(
        SlackChannelConfig(
            bot_token=BOT_TOKEN,
            default_channel="#approvals",
            signing_secret=SIGNING_SECRET,
            base_url=api,
        )
    )
    client = PolosClient(journal=journal, channels=[slack])
    if mode == "kill_after_start":
        kill_at_commit(client, 1, "after")
    server = serve_slack(client, port=0, slack=slack, delivery_timeout=60)
    sys.stdout.write(json.dumps({"port": server.port}) + "\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
