"""A deployment that waits for a person to approve it on the approval page.

The suspension's ``_form`` is what the page renders (fields named with ``name``, as
upstream's page reads them); its event carries ``_approval_url``, the page's address.
"""

from pydantic import BaseModel

from polos_nb import WorkflowContext, workflow


class DeployRequest(BaseModel):
    service: str
    version: str
    environment: str


class DeployResult(BaseModel):
    service: str
    version: str
    environment: str
    status: str
    approved_by: str | None = None
    reason: str | None = None


@workflow(id="deploy_with_approval")
async def deploy_workflow(ctx: WorkflowContext, payload: DeployRequest) -> DeployResult:
    checks = await ctx.step.run(
        "pre_deploy_checks",
        lambda: {"tests_pass": True, "build_success": True, "version": payload.version},
    )

    resume_data = await ctx.step.suspend(
        "approve_deploy",
        data={
            "_form": {
                "title": f"Deploy {payload.service} v{payload.version}",
                "description": f"Approve the deployment to {payload.environment}.",
                "fields": [
                    {
                        "name": "approved",
                        "type": "boolean",
                        "label": "Approve this deployment",
                        "default": False,
                    },
                    {"name": "approver", "type": "text", "label": "Your name", "required": True},
                    {"name": "reason", "type": "textarea", "label": "Comments"},
                ],
                "context": {
                    "service": payload.service,
                    "environment": payload.environment,
                    "tests": "passing" if checks["tests_pass"] else "failing",
                    "build": "success" if checks["build_success"] else "failed",
                },
            },
        },
        timeout=86400,
    )

    decision = resume_data.get("data", resume_data) if isinstance(resume_data, dict) else {}
    approved = bool(decision.get("approved"))
    if approved:
        await ctx.step.run("execute_deploy", lambda: {"deployed": True})

    return DeployResult(
        service=payload.service,
        version=payload.version,
        environment=payload.environment,
        status="deployed" if approved else "rejected",
        approved_by=str(decision.get("approver", "unknown")),
        reason=str(decision["reason"]) if decision.get("reason") is not None else None,
    )
