"""Consume streaming agent responses: python main.py"""

import asyncio

from story_agents import storyteller

from polos_nb import Polos


async def stream_text_chunks(polos):
    result = await storyteller.stream(
        polos, "Tell me a short story about a robot learning to paint"
    )
    print(f"Topic: {result.topic}")
    async for chunk in result.text_chunks:
        print(chunk, end="", flush=True)
    print()


async def stream_full_events(polos):
    result = await storyteller.stream(polos, "Write a haiku about mountains")
    async for event in result.events:
        event_type = event.event_type
        if event_type == "text_delta":
            print(event.data.get("content", ""), end="", flush=True)
        elif event_type == "tool_call":
            tool_name = event.data.get("tool_call", {}).get("function", {}).get("name", "unknown")
            print(f"[Tool Called: {tool_name}]")
        elif event_type == "agent_finish":
            print("\n[Agent completed]")


async def get_final_text(polos):
    result = await storyteller.stream(polos, "What are three benefits of reading books?")
    final_text = await result.text()
    print(f"Final text: {final_text}")


async def main():
    async with Polos(log_file="polos.log") as polos:
        await stream_text_chunks(polos)
        await stream_full_events(polos)
        await get_final_text(polos)


if __name__ == "__main__":
    asyncio.run(main())
