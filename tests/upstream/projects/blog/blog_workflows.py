"""Review a blog post with agents in parallel, then edit it."""

from blog_agents import final_editor_agent, grammar_review_agent, tone_consistency_agent
from pydantic import BaseModel

from polos_nb import WorkflowContext, workflow
from polos_nb.types import AgentResult
from polos_nb.types.types import BatchWorkflowInput


class BlogReviewPayload(BaseModel):
    text: str


class BlogReviewResult(BaseModel):
    original_text: str
    grammar_review: str
    tone_review: str
    final_text: str


@workflow(id="word_count")
async def word_count(ctx: WorkflowContext, payload: dict) -> dict:
    return {"words": len(payload["text"].split())}


@workflow(id="blog_review")
async def blog_review(ctx: WorkflowContext, payload: BlogReviewPayload) -> BlogReviewResult:
    text = payload.text
    review_results = await ctx.step.batch_agent_invoke_and_wait(
        "parallel_reviews",
        [
            grammar_review_agent.with_input(f"Review the grammar:\n\n{text}"),
            tone_consistency_agent.with_input(f"Review the tone:\n\n{text}"),
        ],
    )
    grammar_review = AgentResult.model_validate(review_results[0].result).result
    tone_review = AgentResult.model_validate(review_results[1].result).result
    counts = await ctx.step.batch_invoke_and_wait(
        "counts", [BatchWorkflowInput(id="word_count", payload={"text": text})]
    )
    editor_result = await ctx.step.agent_invoke_and_wait(
        "final_editor",
        final_editor_agent.with_input(
            f"{text}\n\n{grammar_review}\n{tone_review}\nWords: {counts[0].result['words']}"
        ),
    )
    return BlogReviewResult(
        original_text=text,
        grammar_review=grammar_review,
        tone_review=tone_review,
        final_text=editor_result.result,
    )
