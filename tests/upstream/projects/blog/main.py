"""Run the blog review workflow and print its events: python main.py"""

import asyncio
import json

from blog_workflows import BlogReviewPayload, blog_review

from polos_nb import Polos, events


async def main():
    async with Polos(log_file="polos.log") as polos:
        handle = await blog_review.invoke(
            polos, BlogReviewPayload(text="Taking short breaks keeps you sharp. Its that simple.")
        )
        print(f"Workflow started with execution ID: {bool(handle.id)}")
        async for event in events.stream_workflow(polos, handle.root_workflow_id, handle.id):
            if event.event_type == "agent_finish":
                agent_id = event.data.get("_metadata", {}).get("workflow_id", "unknown")
                output = event.data.get("result", {})
                print(f"[AGENT FINISH] {agent_id}: {json.dumps(output['result'])}")
            elif event.event_type == "workflow_finish":
                workflow_id = event.data.get("_metadata", {}).get("workflow_id", "unknown")
                result = event.data.get("result", {})
                print(f"[WORKFLOW FINISH] {workflow_id}: {json.dumps(result, sort_keys=True)}")


if __name__ == "__main__":
    asyncio.run(main())
