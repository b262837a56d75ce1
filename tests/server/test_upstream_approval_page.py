"""Upstream's approval-page example (python-examples/22) on the approval page.

The workflow of tests/upstream/projects/approval_page (fields named with ``name``, as
upstream's page reads them) waits in a journal at rest; the page shows its form, a
browser's form post answers it, and the run finishes with what was posted.
"""

from __future__ import annotations

import importlib.util
import json
import time
import urllib.parse
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from polos_nb import PolosClient
from polos_nb.engine import unregister_workflow

from .helpers import get_json, poll, run

pytestmark = pytest.mark.timeout(240)

PROJECT = Path(__file__).resolve().parents[1] / "upstream" / "projects" / "approval_page"
WORKFLOW_ID = "deploy_with_approval"


def _load_workflows() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "upstream_deploy_workflows", PROJECT / "deploy_workflows.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_answers_upstreams_deploy_approval(
    jp_root_dir: Path, jp_fetch: Any, jp_asyncio_loop: Any, hub: Any
) -> None:
    folder = jp_root_dir / "deploys"
    folder.mkdir()
    journal = folder / ".polos" / "deploys.duckdb"
    payload = {"service": "api-gateway", "version": "2.4.0", "environment": "production"}
    module = _load_workflows()
    client = PolosClient(journal=journal)
    try:
        handle = client.runtime.call(module.deploy_workflow.invoke(client, payload))
        for _ in range(400):
            if client.runtime.call(client.get_execution(handle.id)).status == "waiting":
                break
            time.sleep(0.05)
    finally:
        client.close()
        unregister_workflow(WORKFLOW_ID)  # only the "script" runs it, not the server
    run_id = handle.id

    async def scenario() -> None:
        async def waiting() -> Any:
            state = await get_json(jp_fetch, "polos", "api", "state")
            return state["approvals"] or None

        [approval] = await poll(waiting, what="the deployment's approval")
        assert approval["url"].endswith(f"/polos/approve/{run_id}/approve_deploy")
        html = (await jp_fetch("polos", "approve", run_id, "approve_deploy")).body.decode()
        assert "Deploy api-gateway v2.4.0" in html
        for field in ("approver", "reason"):
            assert f'name="{field}"' in html, field
        # "approved" makes it an approval: Approve / Reject buttons, not a checkbox
        assert 'name="approved"' not in html and 'value="approve"' in html
        form = urllib.parse.urlencode(
            {"approver": "Ada", "reason": "ship it", "decision": "approve"}
        )
        response = await jp_fetch(
            "polos", "approve", run_id, "approve_deploy", method="POST", body=form
        )
        assert "Answered" in response.body.decode()

        async def answered() -> Any:
            state = await get_json(jp_fetch, "polos", "api", "state")
            return state if not state["approvals"] else None

        await poll(answered, what="the approval to leave the inbox")

    run(jp_asyncio_loop, scenario())
    # the answer is journaled; the run finishes once its workflow is defined again
    module = _load_workflows()
    client = PolosClient(journal=journal)
    try:
        execution = client.runtime.call(client.get_execution(run_id))
        for _ in range(600):
            if execution.status in ("completed", "failed"):
                break
            time.sleep(0.05)
            execution = client.runtime.call(client.get_execution(run_id))
    finally:
        client.close()
        unregister_workflow(WORKFLOW_ID)
    assert execution.status == "completed", execution.error
    assert json.loads(json.dumps(execution["result"])) == {
        **payload,
        "status": "deployed",
        "approved_by": "Ada",
        "reason": "ship it",
    }
