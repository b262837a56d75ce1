import { describe, expect, it } from 'vitest';

import { fmtCost, fmtCount, fmtDuration, fmtTokens, outputMentionsRun, runDuration } from '../format';
import type { RunSummary } from '../types';

function run(over: Partial<RunSummary>): RunSummary {
  return {
    id: 'r1',
    workflow_id: 'wf',
    workflow_type: 'workflow',
    status: 'completed',
    created_at: null,
    started_at: null,
    completed_at: null,
    duration_ms: null,
    input_tokens: 0,
    output_tokens: 0,
    cost_usd: null,
    pending: 0,
    ...over
  };
}

describe('format', () => {
  it('formats durations from milliseconds to hours', () => {
    expect(fmtDuration(850)).toBe('850 ms');
    expect(fmtDuration(1234)).toBe('1.23 s');
    expect(fmtDuration(12_300)).toBe('12.3 s');
    expect(fmtDuration(754_000)).toBe('12m 34s');
    expect(fmtDuration(2 * 3600_000 + 60_000)).toBe('2h 1m');
    expect(fmtDuration(null)).toBe('');
    expect(fmtDuration(-5)).toBe('');
  });

  it('ticks the duration of a running run up to now', () => {
    const started = '2026-01-01T00:00:00+00:00';
    const now = Date.parse(started) + 5000;
    expect(runDuration(run({ status: 'running', started_at: started }), now)).toBe(5000);
    expect(runDuration(run({ status: 'completed', duration_ms: 42 }), now)).toBe(42);
    expect(runDuration(run({ status: 'queued' }), now)).toBeNull();
  });

  it('formats tokens and cost', () => {
    expect(fmtCount(999)).toBe('999');
    expect(fmtCount(1234)).toBe('1.2k');
    expect(fmtCount(2_500_000)).toBe('2.5M');
    expect(fmtTokens(1200, 35)).toBe('1.2k→35 tok');
    expect(fmtTokens(0, 0)).toBe('');
    expect(fmtCost(null)).toBe('');
    expect(fmtCost(0.000123)).toBe('$0.00012');
    expect(fmtCost(0.5)).toBe('$0.500');
    expect(fmtCost(12.345)).toBe('$12.35');
  });

  it('finds a run id in a cell output', () => {
    const output = { output_type: 'display_data', data: { 'text/plain': '<Run wf abc123 status=completed>' } };
    expect(outputMentionsRun([output], 'abc123')).toBe(true);
    expect(outputMentionsRun([output], 'zzz')).toBe(false);
    expect(outputMentionsRun([output], '')).toBe(false);
  });
});
