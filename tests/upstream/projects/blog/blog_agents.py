"""The blog agents. Upstream names provider="openai", model="gpt-4o-mini"."""

from polos_nb import Agent, MaxStepsConfig, max_steps
from polos_nb.memory.types import CompactionConfig
from polos_nb.testing import ScriptedModel


def _agent(agent_id: str, reply: str) -> Agent:
    return Agent(
        id=agent_id,
        provider="fake",
        model=ScriptedModel(f"{agent_id}-model", [reply]),
        system_prompt=f"You are the {agent_id.replace('_', ' ')}.",
        compaction=CompactionConfig(max_conversation_tokens=50_000),
        stop_conditions=[max_steps(MaxStepsConfig(count=3))],
    )


grammar_review_agent = _agent("grammar_reviewer", "Grammar: fix 'its' -> 'it's'.")
tone_consistency_agent = _agent("tone_reviewer", "Tone: friendly and consistent.")
final_editor_agent = _agent(
    "final_editor", "Taking short breaks keeps you sharp. It's that simple."
)
