"""What the refund agent must answer with (its output_schema)."""

from pydantic import BaseModel, Field


class RefundDetails(BaseModel):
    refund_id: str | None = Field(default=None, description="Id of the refund issued")
    amount: float | None = Field(default=None, description="Amount refunded")
    notified: str | None = Field(default=None, description="Who was told about it")


class RefundDecision(BaseModel):
    step: str = Field(description="What the agent did last: 'refund' or 'notify'")
    details: RefundDetails
    needs_review: bool = Field(default=False, description="True when a person must check it")
    summary: str
