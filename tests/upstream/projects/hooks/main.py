"""Agents with lifecycle hooks and guardrails: python main.py"""

import asyncio

from guarded_agents import logged_agent, safe_assistant

from polos_nb import Polos


async def main():
    async with Polos(log_file="polos.log") as polos:
        print("[Demo 1] logged_agent: 'What is 42 * 17?'")
        try:
            result = await logged_agent.run(polos, "What is 42 * 17?")
            print(f"Result: {result.result}")
        except Exception as e:
            print(f"Error: {e}")

        print("[Demo 2] logged_agent with an empty prompt")
        try:
            result = await logged_agent.run(polos, "   ")
            print(f"Result: {result.result}")
        except Exception as e:
            print(f"Error: {str(e).splitlines()[0]}")

        print("[Demo 3] safe_assistant: guardrails regenerate, then redact")
        result = await safe_assistant.run(polos, "How do I reach support?")
        print(f"Result: {result.result}")


if __name__ == "__main__":
    asyncio.run(main())
