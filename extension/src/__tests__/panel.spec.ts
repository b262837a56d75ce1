import { describe, expect, it, vi } from 'vitest';

import { PolosModel } from '../model';
import { PolosPanel } from '../panel';
import { ApiError, Approval, Backend, HubState } from '../types';

const approval: Approval = {
  execution_id: 'e1',
  root_execution_id: 'e1',
  root_workflow_id: 'refund',
  workflow_id: 'refund',
  key: 'review',
  created_at: null,
  url: 'http://127.0.0.1:8888/polos/approve/e1/review',
  notebook: 'demo.ipynb',
  source: 'kernel:k1',
  form: {
    key: 'review',
    title: 'Refund 40 EUR?',
    description: '',
    context: { amount: 40 },
    schema: {
      type: 'object',
      properties: { amount: { type: 'number', title: 'Amount' } },
      required: ['amount']
    },
    approval: false,
    tool: null,
    source: null
  }
};

function fakeBackend(states: HubState[]): Backend & { answers: unknown[] } {
  let i = 0;
  const answers: unknown[] = [];
  return {
    answers,
    state: vi.fn(async (since: number) => {
      if (since >= 0 && i >= states.length) {
        await new Promise(() => undefined); // a long poll that never answers
      }
      return states[Math.min(i++, states.length - 1)];
    }),
    runs: vi.fn(async (source: string, _status: string | null, offset: number) => ({
      source,
      total: 1,
      matching: 1,
      counts: { waiting: 1 },
      offset,
      runs: [
        {
          id: 'e1',
          workflow_id: 'refund',
          workflow_type: 'workflow',
          status: 'waiting' as const,
          created_at: null,
          started_at: null,
          completed_at: null,
          duration_ms: null,
          input_tokens: 0,
          output_tokens: 0,
          cost_usd: null,
          pending: 1
        }
      ]
    })),
    run: vi.fn(),
    answer: vi.fn(async (request: unknown) => {
      answers.push(request);
      const data = (request as any).data;
      if (typeof data.amount !== 'number') {
        throw new ApiError(400, 'invalid', { amount: 'this field is required' });
      }
      return { delivered: data };
    })
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) {
    await new Promise(resolve => setTimeout(resolve, 0));
  }
}

const source = {
  id: 'kernel:k1',
  kind: 'kernel' as const,
  label: 'demo.ipynb',
  journal: '.polos/demo.duckdb',
  notebook: 'demo.ipynb',
  kernel_id: 'k1',
  status: 'ok' as const,
  error: null,
  counts: { waiting: 1 },
  total: 1,
  pending: 1
};

describe('PolosPanel', () => {
  it('lists approvals, announces new ones, and answers from the inbox', async () => {
    const empty: HubState = { version: 1, sources: [], approvals: [] };
    const waiting: HubState = { version: 2, sources: [source], approvals: [approval] };
    const backend = fakeBackend([empty, waiting]);
    const model = new PolosModel(backend, { timeout: 0 });
    const arrived = vi.fn();
    model.arrived.connect((_, list) => arrived(list));
    const openRun = vi.fn();
    const panel = new PolosPanel(model, { openRun });
    document.body.appendChild(panel.node);
    model.start();
    await settle();
    expect(arrived).toHaveBeenCalledWith([approval]);
    expect(panel.node.dataset.waiting).toBe('1');
    expect(panel.node.querySelector('.polos-inbox .polos-section-title')?.textContent).toBe('Waiting for you · 1');
    const item = panel.node.querySelector('.polos-inbox-item') as HTMLElement;
    expect(item.querySelector('.polos-approval-title')?.textContent).toBe('Refund 40 EUR?');
    expect((item.querySelector('.polos-inbox-page') as HTMLAnchorElement).href).toContain('/polos/approve/e1/review');

    // an answer that does not fit the form: the field error shows, the form stays
    (item.querySelector('.polos-submit') as HTMLButtonElement).click();
    await settle();
    expect(item.querySelector('[data-field="amount"] .polos-field-error')?.textContent).toBe('this field is required');
    (item.querySelector('[data-field="amount"] input') as HTMLInputElement).value = '40';
    (item.querySelector('.polos-submit') as HTMLButtonElement).click();
    await settle();
    expect(backend.answers[backend.answers.length - 1]).toEqual({
      execution_id: 'e1',
      key: 'review',
      decision: 'submit',
      data: { amount: 40 },
      source: 'kernel:k1'
    });
    expect(item.dataset.status).toBe('answered');

    // the source's runs, and a click opens the inspector
    const row = panel.node.querySelector('.polos-source .polos-run-row') as HTMLElement;
    expect(row.dataset.status).toBe('waiting');
    row.click();
    expect(openRun).toHaveBeenCalledWith(expect.objectContaining({ id: 'kernel:k1' }), expect.objectContaining({ id: 'e1' }));
    model.dispose();
  });

  it('filters the runs of every source by status', async () => {
    const state: HubState = { version: 1, sources: [source], approvals: [] };
    const backend = fakeBackend([state]);
    const model = new PolosModel(backend, { timeout: 0 });
    const panel = new PolosPanel(model, { openRun: () => undefined });
    model.start();
    await settle();
    const chip = panel.node.querySelector('.polos-filter[data-status="waiting"]') as HTMLButtonElement;
    expect(chip.textContent).toContain('waiting 1');
    chip.click();
    await settle();
    expect(panel.filter).toBe('waiting');
    expect((backend.runs as any).mock.calls.slice(-1)[0][1]).toBe('waiting');
    model.dispose();
  });
});
