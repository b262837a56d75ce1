// One source's runs as a windowed list: only the rows in view are in the DOM, and pages
// of runs are fetched as they scroll into view. A journal with 10,000 runs costs one
// page of data and a screenful of rows.

import { fmtCost, fmtDuration, fmtTokens, h, ICON, runDuration, shortId } from './format';
import type { RunPage, RunSummary } from './types';

export interface RunListOptions {
  fetchPage: (status: string | null, offset: number, limit: number) => Promise<RunPage>;
  onOpen: (run: RunSummary) => void;
  onJump?: (run: RunSummary) => void;
  rowHeight?: number;
  pageSize?: number;
  /** Rows shown before the list scrolls. */
  visibleRows?: number;
  now?: () => number;
}

/** Which rows [first, last) to draw for a scroll position (with ``overscan`` extra). */
export function visibleRange(
  scrollTop: number,
  viewport: number,
  rowHeight: number,
  total: number,
  overscan = 4
): [number, number] {
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(total, Math.ceil((scrollTop + viewport) / rowHeight) + overscan);
  return [first, Math.max(first, last)];
}

export class RunList {
  readonly node: HTMLElement;

  constructor(private readonly options: RunListOptions) {
    this.rowHeight = options.rowHeight ?? 42;
    this.pageSize = options.pageSize ?? 100;
    this.node = h('div', 'polos-runlist');
    this.node.addEventListener('scroll', () => this.render());
    this.spacer = h('div', 'polos-runlist-spacer');
    this.node.appendChild(this.spacer);
    this.empty = h('div', 'polos-runlist-empty', 'No runs.');
  }

  get total(): number {
    return this._total;
  }

  /** The rows now in the DOM (for tests and the benchmark). */
  get renderedRows(): number {
    return this.spacer.querySelectorAll('.polos-run-row').length;
  }

  /** Show runs with this status only (``null``: all); starts again from the top. */
  async setFilter(status: string | null): Promise<void> {
    this.status = status;
    this.generation += 1; // an answer for the previous filter is dropped
    this.pages.clear();
    this.node.scrollTop = 0;
    await this.load(0);
  }

  /** Fetch again what is loaded (the source changed), keeping the scroll position. */
  async refresh(): Promise<void> {
    const loaded = [...this.pages.keys()];
    this.generation += 1;
    this.pages.clear();
    await Promise.all((loaded.length ? loaded : [0]).map(p => this.load(p)));
  }

  private async load(page: number): Promise<void> {
    // A fetch of an older generation (before a refresh) does not count: its answer is
    // dropped, so the page is fetched again for this one.
    if (this.pages.has(page) || this.loading.get(page) === this.generation) {
      return;
    }
    const generation = this.generation;
    this.loading.set(page, generation);
    try {
      const result = await this.options.fetchPage(
        this.status,
        page * this.pageSize,
        this.pageSize
      );
      if (generation !== this.generation) {
        return;
      }
      this.pages.set(page, result.runs);
      this._total = result.matching;
    } catch (err) {
      this.error = String((err as Error).message || err);
    } finally {
      if (this.loading.get(page) === generation) {
        this.loading.delete(page);
      }
    }
    this.render();
  }

  private runAt(index: number): RunSummary | undefined {
    const page = this.pages.get(Math.floor(index / this.pageSize));
    return page ? page[index % this.pageSize] : undefined;
  }

  /** Draw the rows in view; fetch the pages they need. */
  render(): void {
    const visible = Math.min(this._total, this.options.visibleRows ?? 8);
    this.node.style.height = `${Math.max(1, visible) * this.rowHeight}px`;
    this.spacer.style.height = `${this._total * this.rowHeight}px`;
    if (this._total === 0) {
      this.spacer.replaceChildren(this.error ? h('div', 'polos-runlist-empty', this.error) : this.empty);
      this.node.style.height = 'auto';
      return;
    }
    const viewport = this.node.clientHeight || visible * this.rowHeight;
    const [first, last] = visibleRange(
      this.node.scrollTop,
      viewport,
      this.rowHeight,
      this._total
    );
    const rows: HTMLElement[] = [];
    const now = (this.options.now ?? Date.now)();
    for (let i = first; i < last; i++) {
      const run = this.runAt(i);
      if (!run) {
        void this.load(Math.floor(i / this.pageSize));
        const placeholder = h('div', 'polos-run-row polos-run-row-loading', '…');
        placeholder.style.top = `${i * this.rowHeight}px`;
        rows.push(placeholder);
        continue;
      }
      rows.push(this.row(run, i, now));
    }
    this.spacer.replaceChildren(...rows);
  }

  private row(run: RunSummary, index: number, now: number): HTMLElement {
    const row = h('div', 'polos-run-row');
    row.style.top = `${index * this.rowHeight}px`;
    row.style.height = `${this.rowHeight}px`;
    row.dataset.runId = run.id;
    row.dataset.status = run.status;
    row.tabIndex = 0;
    row.title = `${run.workflow_id} ${run.id} — ${run.status}: open its inspector`;
    const icon = h('span', `polos-run-icon polos-status-${run.status}`, ICON[run.status] || '');
    row.appendChild(icon);
    const main = h('div', 'polos-run-main');
    const line1 = h('div', 'polos-run-line1');
    line1.appendChild(h('span', 'polos-run-workflow', run.workflow_id));
    if (run.pending) {
      line1.appendChild(h('span', 'polos-run-pending', `${run.pending} waiting`));
    }
    main.appendChild(line1);
    const facts = [
      shortId(run.id),
      fmtDuration(runDuration(run, now)),
      fmtTokens(run.input_tokens, run.output_tokens),
      fmtCost(run.cost_usd)
    ].filter(Boolean);
    main.appendChild(h('div', 'polos-run-line2', facts.join(' · ')));
    row.appendChild(main);
    if (this.options.onJump) {
      const jump = h('button', 'polos-run-jump', '↗');
      jump.title = 'Jump to the cell that started this run';
      jump.addEventListener('click', ev => {
        ev.stopPropagation();
        this.options.onJump?.(run);
      });
      row.appendChild(jump);
    }
    row.addEventListener('click', () => this.options.onOpen(run));
    row.addEventListener('keydown', ev => {
      if (ev.key === 'Enter') {
        this.options.onOpen(run);
      }
    });
    return row;
  }

  private readonly rowHeight: number;
  private readonly pageSize: number;
  private readonly spacer: HTMLElement;
  private readonly empty: HTMLElement;
  private status: string | null = null;
  private pages = new Map<number, RunSummary[]>();
  private loading = new Map<number, number>(); // page -> the generation fetching it
  private generation = 0;
  private _total = 0;
  private error = '';
}
