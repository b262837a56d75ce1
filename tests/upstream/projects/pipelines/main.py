"""Grade a class in parallel, retry flaky uploads, and react to events: python main.py"""

import asyncio

from pipeline_workflows import (
    ClassPayload,
    Essay,
    TallyState,
    await_ack,
    grade_class,
    upload_reports,
)

from polos_nb import Polos, events


async def main():
    async with Polos(log_file="polos.log") as polos:
        report = await grade_class.run(
            polos,
            ClassPayload(
                essays=[
                    Essay(student="ada", words=900),
                    Essay(student="bob", words=300),
                    Essay(student="cy", words=0),
                ]
            ),
            initial_state=TallyState(essays_seen=100),
        )
        print(f"Graded: {report.graded}, average: {report.average}")
        print(f"Failed: {report.failed_students}")

        uploads = await upload_reports.run(polos, {"names": ["ada", "broken"]})
        print(f"Uploads: {uploads['done']}")
        print(f"Skipped: {uploads['skipped']}")

        waiter = await await_ack.invoke(polos, {"student": "ada"})
        await events.publish(
            client=polos,
            topic="grades/posted",
            event_data=events.EventData(event_type="posted", data={"student": "ada", "mark": 9}),
        )
        execution = await waiter.get(polos)
        while execution.get("status") not in ("completed", "failed"):
            await asyncio.sleep(0.2)
            execution = await waiter.get(polos)
        print(f"Ack: {execution.get('result')}")

        await events.batch_publish(
            client=polos,
            topic="grades/comment",
            events=[
                events.EventData(event_type="comment", data={"text": t})
                for t in ["great", "needs sources", "late"]
            ],
        )
        await asyncio.sleep(2)


if __name__ == "__main__":
    asyncio.run(main())
