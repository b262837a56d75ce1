"""Workflows of a small grading pipeline: state, retries, batches, queues and events."""

from pydantic import BaseModel

from polos_nb import (
    BatchEventPayload,
    EventPayload,
    StepExecutionError,
    WorkflowContext,
    WorkflowState,
    queue,
    workflow,
)
from polos_nb.types.types import BatchWorkflowInput

grading_queue = queue("grading", concurrency_limit=2)


class Essay(BaseModel):
    student: str
    words: int


class Grade(BaseModel):
    student: str
    mark: int
    passed: bool


class ClassPayload(BaseModel):
    essays: list[Essay]


class ClassReport(BaseModel):
    graded: int
    failed_students: list[str]
    average: float


class TallyState(WorkflowState):
    essays_seen: int = 0


@workflow(id="grade_essay", queue=grading_queue)
async def grade_essay(ctx: WorkflowContext, payload: Essay) -> Grade:
    if payload.words == 0:
        raise ValueError(f"{payload.student} handed in an empty essay")
    mark = await ctx.step.run("mark", lambda: min(10, payload.words // 100))
    return Grade(student=payload.student, mark=mark, passed=mark >= 5)


@workflow(id="grade_class", state_schema=TallyState)
async def grade_class(ctx: WorkflowContext, payload: ClassPayload) -> ClassReport:
    results = await ctx.step.batch_invoke_and_wait(
        "grade_all",
        [BatchWorkflowInput(id="grade_essay", payload=essay) for essay in payload.essays],
    )
    marks, failed = [], []
    for item in results:
        ctx.state.essays_seen += 1
        if item.success and item.result:
            marks.append(item.result.mark)
        else:
            failed.append("empty essay" if "empty essay" in str(item.error) else "?")
    return ClassReport(
        graded=len(marks),
        failed_students=failed,
        average=sum(marks) / len(marks) if marks else 0.0,
    )


ATTEMPTS: dict[str, int] = {}


def flaky_upload(name: str) -> str:
    ATTEMPTS[name] = ATTEMPTS.get(name, 0) + 1
    if name == "broken" or ATTEMPTS[name] < 2:
        raise ConnectionError(f"upload of {name} dropped (attempt {ATTEMPTS[name]})")
    return f"uploaded {name} on attempt {ATTEMPTS[name]}"


@workflow(id="upload_reports")
async def upload_reports(ctx: WorkflowContext, payload: dict) -> dict:
    done, skipped = [], []
    for name in payload["names"]:
        try:
            done.append(
                await ctx.step.run(
                    f"upload_{name}", flaky_upload, name, max_retries=2, base_delay=0.05
                )
            )
        except StepExecutionError as exc:
            skipped.append(f"{name}: {type(exc).__name__}")
    return {"done": done, "skipped": skipped}


@workflow(id="on_grade_posted", trigger_on_event="grades/posted")
async def on_grade_posted(ctx: WorkflowContext, payload: EventPayload) -> dict:
    await ctx.step.publish_event(
        "ack", topic=f"grades/ack/{payload.data['student']}", data={"seen": payload.data}
    )
    return {"student": payload.data["student"]}


@workflow(id="digest", trigger_on_event="grades/comment", batch_size=3, batch_timeout_seconds=5)
async def digest(ctx: WorkflowContext, payload: BatchEventPayload) -> dict:
    texts = [event.data["text"] for event in payload.events]
    print(f"Digest of {len(texts)} comments: {texts}")
    return {"count": len(texts)}


@workflow(id="await_ack")
async def await_ack(ctx: WorkflowContext, payload: dict) -> dict:
    event = await ctx.step.wait_for_event(
        "ack", topic=f"grades/ack/{payload['student']}", timeout=60
    )
    return {"topic": event.topic, "seen": event.data["seen"]}
