"""A terminal chat that streams each answer and remembers the session, then a planner
whose structured answer is streamed and parsed: python main.py"""

import asyncio
import uuid

from chat_agents import chat_assistant, planner

from polos_nb import Polos


async def chat(polos):
    session_id = str(uuid.uuid4())
    while True:
        try:
            user_input = input("You: ").strip()
        except EOFError:
            break
        if user_input in ("quit", "exit"):
            break
        print("Assistant: ", end="", flush=True)
        result = await chat_assistant.stream(polos, user_input, session_id=session_id)
        async for event in result.events:
            if event.event_type == "text_delta":
                print(event.data.get("content", ""), end="", flush=True)
            elif event.event_type == "tool_call":
                name = event.data.get("tool_call", {}).get("function", {}).get("name", "?")
                print(f"[Using {name}...] ", end="", flush=True)
        print()


async def main():
    async with Polos(log_file="polos.log") as polos:
        await chat(polos)

        streamed = await planner.stream(polos, "How do I make tea?")
        text = ""
        async for chunk in streamed.text_chunks:
            text += chunk
        print(f"Streamed plan: {text}")
        result = await planner.run(polos, "How do I make tea?")
        print(f"Plan steps: {result.result.steps} ({type(result.result).__name__})")


if __name__ == "__main__":
    asyncio.run(main())
