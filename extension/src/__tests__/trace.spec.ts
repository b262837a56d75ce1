import { describe, expect, it } from 'vitest';

import { renderTrace, timeline } from '../trace';
import type { RunSnapshot } from '../types';

const snapshot: RunSnapshot = {
  run_id: 'abc',
  workflow_id: 'refund',
  status: 'completed',
  started_at: '2026-01-01T00:00:00+00:00',
  ended_at: '2026-01-01T00:00:10+00:00',
  steps: [
    { key: 'llm:0', kind: 'llm', status: 'completed', started: '2026-01-01T00:00:00+00:00', ended: '2026-01-01T00:00:02+00:00', ms: 2000, tokens: { input: 10, output: 5 } },
    { key: 'tool:0:c1:lookup', kind: 'tool', status: 'completed', started: '2026-01-01T00:00:05+00:00', ended: '2026-01-01T00:00:10+00:00', ms: 5000, detail: 'ok' }
  ],
  tools: [{ call_id: 'c1', name: 'lookup', arguments: '{"q": "x"}', status: 'completed', result: '42' }],
  approvals: [{ key: 'review', title: 'Refund?', status: 'approved', answer: '{"approved": true}' }],
  usage: { input_tokens: 10, output_tokens: 5, cost_usd: 0.002 },
  output: 'refunded <b>not html</b>',
  text: 'thinking'
};

describe('trace', () => {
  it('places steps on the run time axis', () => {
    const [a, b] = timeline(snapshot.steps!, snapshot.started_at, snapshot.ended_at);
    expect(a.left).toBe(0);
    expect(a.width).toBeCloseTo(0.2);
    expect(b.left).toBeCloseTo(0.5);
    expect(b.width).toBeCloseTo(0.5);
  });

  it('renders steps, tools, approvals and output as text', () => {
    const node = renderTrace(snapshot, { saved: true });
    expect(node.dataset.status).toBe('completed');
    expect(node.querySelector('.polos-trace-facts')?.textContent).toBe('10.0 s · 10→5 tok · $0.0020');
    expect(node.querySelector('.polos-trace-saved')).not.toBeNull();
    expect(node.querySelectorAll('.polos-trace-step')).toHaveLength(2);
    expect((node.querySelector('[data-key="tool:0:c1:lookup"] .polos-trace-bar') as HTMLElement).style.left).toBe('50%');
    expect(node.querySelector('.polos-trace-tool-name')?.textContent).toBe('lookup');
    expect(node.querySelector('.polos-trace-approval[data-status="approved"] .polos-trace-approval-status')?.textContent).toBe('Approved');
    const out = node.querySelector('.polos-trace-output pre') as HTMLElement;
    expect(out.textContent).toBe('refunded <b>not html</b>');
    expect(out.querySelector('b')).toBeNull();
  });

  it("shows the run's input as JSON text, and a live run's steps up to now", () => {
    const started = new Date(Date.now() - 10000).toISOString();
    const node = renderTrace({
      run_id: 'r',
      workflow_id: 'w',
      status: 'running',
      input: { order: '<A-17>' },
      started_at: started,
      steps: [{ key: 'a', kind: 'step', status: 'completed', started, ended: new Date(Date.now() - 5000).toISOString(), ms: 5000 }]
    });
    expect(node.querySelector('.polos-trace-input code')?.textContent).toBe('{"order":"<A-17>"}');
    expect(node.querySelector('.polos-trace-timeline summary')?.textContent).toBe('Timeline · 1 step');
    const width = parseFloat((node.querySelector('.polos-trace-bar') as HTMLElement).style.width);
    expect(width).toBeGreaterThan(40);
    expect(width).toBeLessThan(60);
  });

  it('shows a failed run with its error and no timing', () => {
    const node = renderTrace({ run_id: 'x', workflow_id: 'w', status: 'failed', error: 'ValueError: boom' });
    expect(node.querySelector('.polos-trace-error-box pre')?.textContent).toBe('ValueError: boom');
    expect(node.querySelector('.polos-trace-timeline')).toBeNull();
  });
});
