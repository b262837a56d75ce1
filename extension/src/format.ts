// Small helpers shared by the sidebar, the inspector and the saved-run renderer.

import type { RunSummary } from './types';

export const ICON: Record<string, string> = {
  running: '◐',
  completed: '✓',
  failed: '✗',
  waiting: '‖',
  queued: '…',
  cancelled: '⊘'
};

/** An element with a class and a text (never HTML: everything shown is text). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls?: string,
  text?: string | number | null
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (cls) {
    el.className = cls;
  }
  if (text !== undefined && text !== null) {
    el.textContent = String(text);
  }
  return el;
}

/** 850 → "850 ms", 12_300 → "12.3 s", 754_000 → "12m 34s", 2 h → "2h 0m". */
export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !isFinite(ms) || ms < 0) {
    return '';
  }
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  const s = ms / 1000;
  if (s < 60) {
    return `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return `${m}m ${Math.floor(s - m * 60)}s`;
  }
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

/** A run's duration: ended runs from their times, running ones up to ``now``. */
export function runDuration(run: RunSummary, now: number): number | null {
  if (run.duration_ms !== null && run.duration_ms !== undefined) {
    return run.duration_ms;
  }
  if (!run.started_at) {
    return null;
  }
  const start = Date.parse(run.started_at);
  if (isNaN(start)) {
    return null;
  }
  if (run.completed_at) {
    const end = Date.parse(run.completed_at);
    return isNaN(end) ? null : end - start;
  }
  if (run.status === 'running' || run.status === 'waiting') {
    return Math.max(0, now - start);
  }
  return null;
}

/** 1234 → "1.2k". */
export function fmtCount(n: number | null | undefined): string {
  if (!n) {
    return '0';
  }
  if (n < 1000) {
    return String(n);
  }
  if (n < 1_000_000) {
    return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  }
  return `${(n / 1_000_000).toFixed(1)}M`;
}

export function fmtTokens(input: number, output: number): string {
  if (!input && !output) {
    return '';
  }
  return `${fmtCount(input)}→${fmtCount(output)} tok`;
}

/** "$0.0123" (4 significant decimals below a cent), "" when no price is known. */
export function fmtCost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !isFinite(usd)) {
    return '';
  }
  if (usd === 0) {
    return '$0';
  }
  if (usd < 0.01) {
    return `$${usd.toPrecision(2)}`;
  }
  return `$${usd.toFixed(usd < 1 ? 3 : 2)}`;
}

export function shortId(id: string): string {
  return id.length > 12 ? id.slice(0, 12) : id;
}

/** Does this notebook output (its JSON) belong to run ``runId``? */
export function outputMentionsRun(output: unknown, runId: string): boolean {
  if (!runId) {
    return false;
  }
  try {
    return JSON.stringify(output).includes(runId);
  } catch {
    return false;
  }
}
