"""Serve an assistant to Slack: mention the bot with `@slack-assistant <message>` and it
answers in the thread; its approvals come with Approve / Reject buttons.

    SLACK_BOT_TOKEN=xoxb-... SLACK_SIGNING_SECRET=... python main.py
"""

import asyncio
import os

from slack_agents import assistant_agent

from polos_nb import Polos, SlackChannel, SlackChannelConfig

slack_bot_token = os.environ.get("SLACK_BOT_TOKEN")
if not slack_bot_token:
    raise RuntimeError("SLACK_BOT_TOKEN environment variable is required (xoxb-...).")

default_channel = os.environ.get("SLACK_CHANNEL", "#agent-notifications")


async def main():
    main_slack = SlackChannel(
        SlackChannelConfig(bot_token=slack_bot_token, default_channel=default_channel)
    )
    polos = Polos(
        deployment_id="slack-channel-example",
        channels=[main_slack],
        log_file="polos.log",
    )

    print("Starting Slack Channel Example...")
    print(f"  Default channel: {default_channel}")
    print(f"  Agent: {assistant_agent.id}")
    print(f"  Try: @mention the bot in {default_channel} with @{assistant_agent.id} <message>")
    print("  Press Ctrl+C to stop", flush=True)

    await polos.serve()


if __name__ == "__main__":
    asyncio.run(main())
