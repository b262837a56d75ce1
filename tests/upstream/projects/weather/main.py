"""Run the weather agent: python main.py"""

import asyncio

from weather_agents import weather_agent

from polos_nb import Polos


async def main():
    async with Polos(log_file="polos.log") as polos:
        print("Invoking weather_agent...")
        result = await weather_agent.run(polos, "What's the weather like in New York?")
        print(result.result)
        print(f"Steps: {result.total_steps}, tools: {[r.tool_name for r in result.tool_results]}")


if __name__ == "__main__":
    asyncio.run(main())
