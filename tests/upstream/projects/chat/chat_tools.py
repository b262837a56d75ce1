"""Tools of the chat assistant."""

from pydantic import BaseModel

from polos_nb import WorkflowContext, tool

RATES = {"EUR": 1.08, "GBP": 1.27, "JPY": 0.0067}


class ConvertInput(BaseModel):
    amount: float
    currency: str


class ConvertOutput(BaseModel):
    usd: float
    rate: float


@tool(description="Convert an amount of a currency to US dollars")
async def to_usd(ctx: WorkflowContext, input: ConvertInput) -> ConvertOutput:
    rate = RATES.get(input.currency.upper(), 1.0)
    return ConvertOutput(usd=round(input.amount * rate, 2), rate=rate)


class LengthInput(BaseModel):
    text: str


@tool(description="Count the words of a text")
async def word_count(ctx: WorkflowContext, input: LengthInput) -> dict:
    return {"words": len(input.text.split())}
