import { describe, expect, it, vi } from 'vitest';

import { RunList, visibleRange } from '../runlist';
import type { RunPage, RunSummary } from '../types';

function makeRuns(n: number): RunSummary[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `run-${String(i).padStart(5, '0')}`,
    workflow_id: i % 2 ? 'triage' : 'refund',
    workflow_type: 'workflow',
    status: i % 3 === 0 ? 'failed' : 'completed',
    created_at: null,
    started_at: '2026-01-01T00:00:00+00:00',
    completed_at: '2026-01-01T00:00:02+00:00',
    duration_ms: 2000,
    input_tokens: 100,
    output_tokens: 20,
    cost_usd: 0.001,
    pending: i === 1 ? 1 : 0
  }));
}

function backend(all: RunSummary[]) {
  return vi.fn(async (status: string | null, offset: number, limit: number): Promise<RunPage> => {
    const runs = status ? all.filter(r => r.status === status) : all;
    return {
      source: 's',
      total: all.length,
      matching: runs.length,
      counts: {},
      offset,
      runs: runs.slice(offset, offset + limit)
    };
  });
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise(resolve => setTimeout(resolve, 0));
  }
}

describe('RunList', () => {
  it('fetches again when refreshed while its first fetch is under way', async () => {
    // The sidebar makes a source's list and fetches its runs; a state that changes the
    // source's counts meanwhile refreshes it. The first answer is then out of date and
    // dropped, so the refresh must fetch again (it did not: the list stayed empty).
    const runs = makeRuns(3);
    const answers: Array<(page: RunPage) => void> = [];
    const fetch = vi.fn(
      (_status: string | null, _offset: number, _limit: number) =>
        new Promise<RunPage>(resolve => answers.push(resolve))
    );
    const page = (n: number): RunPage => ({
      source: 's',
      total: n,
      matching: n,
      counts: {},
      offset: 0,
      runs: runs.slice(0, n)
    });
    const list = new RunList({ fetchPage: fetch, onOpen: () => undefined });
    document.body.appendChild(list.node);
    const first = list.setFilter(null);
    const again = list.refresh();
    expect(fetch).toHaveBeenCalledTimes(2);
    answers[0](page(0)); // the out-of-date answer: no runs yet
    answers[1](page(3));
    await Promise.all([first, again]);
    await settle();
    expect(list.total).toBe(3);
    expect(list.renderedRows).toBe(3);
    list.node.remove();
  });

  it('drops an answer for the filter it had before', async () => {
    const runs = makeRuns(6);
    const answers: Array<[string | null, (page: RunPage) => void]> = [];
    const fetch = vi.fn(
      (status: string | null) =>
        new Promise<RunPage>(resolve => answers.push([status, resolve]))
    );
    const list = new RunList({ fetchPage: fetch, onOpen: () => undefined });
    document.body.appendChild(list.node);
    const all = list.setFilter(null);
    const failed = list.setFilter('failed');
    const only = runs.filter(r => r.status === 'failed');
    for (const [status, resolve] of answers) {
      const chosen = status ? only : runs;
      resolve({ source: 's', total: 6, matching: chosen.length, counts: {}, offset: 0, runs: chosen });
    }
    await Promise.all([all, failed]);
    await settle();
    expect(list.total).toBe(only.length);
    list.node.remove();
  });

  it('computes the rows in view', () => {
    expect(visibleRange(0, 420, 42, 10_000, 0)).toEqual([0, 10]);
    expect(visibleRange(4200, 420, 42, 10_000, 2)).toEqual([98, 112]);
    expect(visibleRange(0, 420, 42, 3, 4)).toEqual([0, 3]);
  });

  it('draws a screenful of 10,000 runs and fetches one page', async () => {
    const fetch = backend(makeRuns(10_000));
    const list = new RunList({ fetchPage: fetch, onOpen: () => undefined, visibleRows: 8 });
    document.body.appendChild(list.node);
    await list.setFilter(null);
    await settle();
    expect(list.total).toBe(10_000);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(list.renderedRows).toBeLessThan(20);
    const first = list.node.querySelector('.polos-run-row') as HTMLElement;
    expect(first.dataset.runId).toBe('run-00000');
    expect(first.textContent).toContain('refund');
    expect(first.textContent).toContain('2.00 s');
    expect(first.textContent).toContain('100→20 tok');
    expect(list.node.querySelector('[data-run-id="run-00001"] .polos-run-pending')?.textContent).toBe('1 waiting');
    list.node.remove();
  });

  it('fetches the page a scroll reaches', async () => {
    const fetch = backend(makeRuns(1000));
    const list = new RunList({ fetchPage: fetch, onOpen: () => undefined, pageSize: 100, rowHeight: 40 });
    await list.setFilter(null);
    list.node.scrollTop = 40 * 450;
    list.render();
    await settle();
    expect(fetch.mock.calls.map(c => c[1])).toContain(400);
    expect(list.node.querySelector('[data-run-id="run-00450"]')).not.toBeNull();
  });

  it('filters by status and opens or jumps on click', async () => {
    const fetch = backend(makeRuns(30));
    const onOpen = vi.fn();
    const onJump = vi.fn();
    const list = new RunList({ fetchPage: fetch, onOpen, onJump, visibleRows: 50 });
    await list.setFilter('failed');
    await settle();
    expect(list.total).toBe(10);
    const rows = [...list.node.querySelectorAll('.polos-run-row')] as HTMLElement[];
    expect(rows.every(r => r.dataset.status === 'failed')).toBe(true);
    rows[0].click();
    expect(onOpen).toHaveBeenCalledWith(expect.objectContaining({ id: 'run-00000' }));
    (rows[1].querySelector('.polos-run-jump') as HTMLElement).click();
    expect(onJump).toHaveBeenCalledWith(expect.objectContaining({ id: 'run-00003' }));
    expect(onOpen).toHaveBeenCalledTimes(1);
  });
});
