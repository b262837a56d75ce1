// A run's trace, read-only: header, timeline of steps, tool calls, streamed text,
// approvals, output. Used by the run inspector and by the renderer of saved runs
// (application/vnd.polos.run+json), from the snapshot the run widget also shows.

import { fmtCost, fmtDuration, fmtTokens, h, ICON } from './format';
import type { RunSnapshot, StepView } from './types';

export interface TraceOptions {
  /** A saved output (no kernel): says so in the header. */
  saved?: boolean;
}

const APPROVAL_TEXT: Record<string, string> = {
  approved: 'Approved',
  approved_always: 'Approved (always)',
  rejected: 'Rejected',
  answered: 'Answered',
  closed: 'Closed (the run ended)',
  pending: 'Waiting for a person',
  sending: 'Sending…',
  invalid: 'Waiting (the last answer did not fit the form)',
  error: 'Waiting (the answer could not be delivered)'
};

function time(value: string | null | undefined): number | null {
  if (!value) {
    return null;
  }
  const t = Date.parse(value);
  return isNaN(t) ? null : t;
}

/** Where each step sits on the run's time axis, as fractions of the whole (0..1). */
export function timeline(
  steps: StepView[],
  runStart?: string | null,
  runEnd?: string | null
): Array<{ step: StepView; left: number; width: number }> {
  const starts = steps.map(s => time(s.started)).filter((t): t is number => t !== null);
  const ends = steps.map(s => time(s.ended)).filter((t): t is number => t !== null);
  const t0 = time(runStart) ?? (starts.length ? Math.min(...starts) : null);
  const t1 = time(runEnd) ?? (ends.length ? Math.max(...ends) : null);
  if (t0 === null || t1 === null || t1 <= t0) {
    return steps.map((step, i) => ({
      step,
      left: steps.length ? i / steps.length : 0,
      width: steps.length ? 1 / steps.length : 1
    }));
  }
  const span = t1 - t0;
  return steps.map(step => {
    const a = time(step.started) ?? time(step.ended) ?? t0;
    const b = time(step.ended) ?? a;
    const left = Math.min(1, Math.max(0, (a - t0) / span));
    const width = Math.max(0.004, Math.min(1 - left, (b - a) / span));
    return { step, left, width };
  });
}

export function renderTrace(s: RunSnapshot, options: TraceOptions = {}): HTMLElement {
  const root = h('div', 'polos-trace');
  root.dataset.status = s.status;
  root.dataset.runId = s.run_id;

  const head = h('div', 'polos-trace-header');
  const badge = h(
    'span',
    `polos-trace-status polos-status-${s.status}`,
    `${ICON[s.status] || ''} ${s.status}`
  );
  head.appendChild(badge);
  head.appendChild(h('b', 'polos-trace-workflow', s.workflow_id));
  head.appendChild(h('code', 'polos-trace-id', s.run_id));
  const start = time(s.started_at);
  const end = time(s.ended_at);
  const facts: string[] = [];
  if (start !== null && end !== null) {
    facts.push(fmtDuration(end - start));
  }
  const usage = s.usage || {};
  const tokens = fmtTokens(usage.input_tokens || 0, usage.output_tokens || 0);
  if (tokens) {
    facts.push(tokens);
  }
  const cost = fmtCost(usage.cost_usd);
  if (cost) {
    facts.push(cost);
  }
  if (facts.length) {
    head.appendChild(h('span', 'polos-trace-facts', facts.join(' · ')));
  }
  if (options.saved) {
    head.appendChild(h('span', 'polos-trace-saved', 'saved run · read-only'));
  }
  root.appendChild(head);

  if (s.note) {
    root.appendChild(h('div', 'polos-trace-note', s.note));
  }
  if (s.input !== undefined && s.input !== null) {
    const input = h('div', 'polos-trace-input');
    input.appendChild(h('span', 'polos-trace-label', 'Input '));
    input.appendChild(h('code', '', JSON.stringify(s.input)));
    root.appendChild(input);
  }

  const steps = s.steps || [];
  if (steps.length) {
    const section = h('details', 'polos-trace-section polos-trace-timeline');
    section.open = true;
    section.appendChild(
      h('summary', '', `Timeline · ${steps.length} step${steps.length === 1 ? '' : 's'}`)
    );
    const rows = h('div', 'polos-trace-rows');
    const live = s.status === 'running' || s.status === 'waiting';
    const end = s.ended_at || (live ? new Date().toISOString() : null);
    for (const { step, left, width } of timeline(steps, s.started_at, end)) {
      const row = h('div', 'polos-trace-step');
      row.dataset.key = step.key;
      row.dataset.status = step.status || '';
      row.appendChild(h('span', 'polos-trace-step-key', step.key));
      const lane = h('span', 'polos-trace-lane');
      const bar = h('span', `polos-trace-bar polos-kind-${(step.kind || 'step').replace(/\W/g, '')}`);
      bar.style.left = `${(left * 100).toFixed(2)}%`;
      bar.style.width = `${(width * 100).toFixed(2)}%`;
      bar.title = `${step.kind || 'step'} · ${step.status || ''} · ${fmtDuration(step.ms)}`;
      lane.appendChild(bar);
      row.appendChild(lane);
      row.appendChild(h('span', 'polos-trace-step-ms', fmtDuration(step.ms)));
      const tok = step.tokens ? fmtTokens(step.tokens.input, step.tokens.output) : '';
      const detail = step.error || [tok, step.detail].filter(Boolean).join(' · ');
      const info = h('span', 'polos-trace-step-detail', detail);
      info.title = detail;
      row.appendChild(info);
      rows.appendChild(row);
    }
    section.appendChild(rows);
    root.appendChild(section);
  }

  const tools = s.tools || [];
  if (tools.length) {
    const section = h('details', 'polos-trace-section polos-trace-tools');
    section.open = true;
    section.appendChild(h('summary', '', `Tool calls · ${tools.length}`));
    const table = h('table', 'polos-trace-table');
    const header = h('tr');
    for (const c of ['tool', 'arguments', 'status', 'result']) {
      header.appendChild(h('th', '', c));
    }
    table.appendChild(header);
    for (const t of tools) {
      const tr = h('tr', 'polos-trace-tool');
      tr.dataset.callId = t.call_id;
      tr.appendChild(h('td', 'polos-trace-tool-name', t.name));
      const args = h('td');
      args.appendChild(h('code', '', t.arguments || ''));
      tr.appendChild(args);
      tr.appendChild(h('td', '', t.status || ''));
      tr.appendChild(h('td', t.error ? 'polos-trace-error' : '', t.error || t.result || ''));
      table.appendChild(tr);
    }
    section.appendChild(table);
    root.appendChild(section);
  }

  if (s.text && s.text !== s.output) {
    const section = h('details', 'polos-trace-section polos-trace-text');
    section.appendChild(h('summary', '', 'Model text'));
    section.appendChild(h('pre', 'polos-trace-pre', s.text));
    root.appendChild(section);
  }

  for (const a of s.approvals || []) {
    const row = h('div', 'polos-trace-approval');
    row.dataset.key = a.key;
    row.dataset.status = a.status || '';
    row.appendChild(h('b', '', a.title || a.key));
    row.appendChild(h('code', '', a.key));
    row.appendChild(
      h('span', 'polos-trace-approval-status', APPROVAL_TEXT[a.status || ''] || a.status || '')
    );
    if (a.answer) {
      row.appendChild(h('code', 'polos-trace-answer', a.answer));
    }
    root.appendChild(row);
  }

  if (s.output !== null && s.output !== undefined && s.output !== '') {
    const out = h('div', 'polos-trace-output');
    out.appendChild(h('div', 'polos-trace-label', 'Output'));
    out.appendChild(h('pre', 'polos-trace-pre', s.output));
    root.appendChild(out);
  }
  if (s.error) {
    const err = h('div', 'polos-trace-error-box');
    err.appendChild(h('div', 'polos-trace-label', 'Error'));
    err.appendChild(h('pre', 'polos-trace-pre', s.error));
    root.appendChild(err);
  }
  return root;
}
