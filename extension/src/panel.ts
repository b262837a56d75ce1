// The "Polos" sidebar's content: the approvals inbox, a status filter, and the runs of
// every source (each open kernel, each journal at rest). Plain DOM, driven by a
// PolosModel; the JupyterLab widget around it is in index.ts.

import { buildForm, FormView } from './form';
import { h, ICON } from './format';
import { approvalKey, PolosModel } from './model';
import { RunList } from './runlist';
import { ApiError, Approval, HubState, RunSummary, Source, STATUSES } from './types';

export interface PanelActions {
  openRun(source: Source, run: RunSummary): void;
  jumpToCell?(source: Source, run: RunSummary): void;
  openNotebook?(path: string): void;
}

export class PolosPanel {
  readonly node: HTMLElement;

  constructor(
    private readonly model: PolosModel,
    private readonly actions: PanelActions
  ) {
    this.node = h('div', 'polos-panel');
    const header = h('div', 'polos-panel-header');
    header.appendChild(h('span', 'polos-panel-title', 'Polos'));
    this.summary = h('span', 'polos-panel-summary');
    header.appendChild(this.summary);
    this.node.appendChild(header);

    this.inbox = h('section', 'polos-inbox');
    this.inboxTitle = h('div', 'polos-section-title');
    this.inboxList = h('div', 'polos-inbox-list');
    this.inbox.append(this.inboxTitle, this.inboxList);
    this.node.appendChild(this.inbox);

    this.filters = h('div', 'polos-filters');
    this.node.appendChild(this.filters);
    this.sourcesNode = h('div', 'polos-sources');
    this.node.appendChild(this.sourcesNode);
    model.changed.connect((_, state) => this.update(state), this);
    // running runs' durations tick
    this.ticker = window.setInterval(() => {
      const live = this.model.state?.sources.some(s => s.counts.running || s.counts.waiting);
      if (live && this.node.isConnected) {
        for (const list of this.lists.values()) {
          list.render();
        }
      }
    }, 1000);
    if (model.state) {
      this.update(model.state);
    } else {
      this.sourcesNode.appendChild(h('div', 'polos-empty', 'Looking for runs…'));
    }
  }

  dispose(): void {
    window.clearInterval(this.ticker);
  }

  get filter(): string | null {
    return this._filter;
  }

  /** Show only runs with this status (``null``: all). */
  setFilter(status: string | null): void {
    this._filter = status;
    for (const list of this.lists.values()) {
      void list.setFilter(status);
    }
    if (this.model.state) {
      this.renderFilters(this.model.state);
    }
  }

  update(state: HubState): void {
    const waiting = state.approvals.length;
    const runs = state.sources.reduce((n, s) => n + s.total, 0);
    this.summary.textContent = `${runs} run${runs === 1 ? '' : 's'}`;
    this.renderInbox(state.approvals);
    this.renderFilters(state);
    this.renderSources(state.sources);
    this.node.dataset.waiting = String(waiting);
  }

  // ------------------------------------------------------------------ inbox
  private renderInbox(approvals: Approval[]): void {
    this.inboxTitle.textContent = approvals.length
      ? `Waiting for you · ${approvals.length}`
      : 'Waiting for you';
    this.inbox.dataset.count = String(approvals.length);
    const keep = new Set(approvals.map(approvalKey));
    for (const [key, card] of this.cards) {
      if (!keep.has(key)) {
        card.node.remove();
        this.cards.delete(key);
      }
    }
    if (!approvals.length) {
      this.inboxList.replaceChildren(h('div', 'polos-empty', 'Nothing waits for you.'));
      return;
    }
    const nodes: HTMLElement[] = [];
    for (const approval of approvals) {
      const key = approvalKey(approval);
      let card = this.cards.get(key);
      if (!card) {
        card = this.card(approval);
        this.cards.set(key, card);
      }
      nodes.push(card.node);
    }
    this.inboxList.replaceChildren(...nodes);
  }

  private card(approval: Approval): { node: HTMLElement; form: FormView } {
    const node = h('div', 'polos-inbox-item');
    node.dataset.key = approval.key;
    node.dataset.executionId = approval.execution_id;
    const meta = h('div', 'polos-inbox-meta');
    meta.appendChild(h('b', '', approval.workflow_id));
    if (approval.notebook) {
      const where = h('a', 'polos-inbox-notebook', approval.notebook);
      where.href = '#';
      where.addEventListener('click', ev => {
        ev.preventDefault();
        this.actions.openNotebook?.(approval.notebook as string);
      });
      meta.appendChild(where);
    }
    if (approval.url) {
      const page = h('a', 'polos-inbox-page', 'page ↗');
      page.href = approval.url;
      page.target = '_blank';
      page.rel = 'noopener';
      page.title = 'The approval page (works on a phone too)';
      meta.appendChild(page);
    }
    node.appendChild(meta);
    const form = buildForm(approval.form, async (decision, data) => {
      form.setErrors({});
      form.setBusy(true);
      form.setStatus('Sending…');
      try {
        await this.model.backend.answer({
          execution_id: approval.execution_id,
          key: approval.key,
          decision,
          data,
          source: approval.source
        });
        form.setStatus('Sent: the run continues.');
        node.dataset.status = 'answered';
        void this.model.refresh().catch(() => undefined);
      } catch (err) {
        form.setBusy(false);
        if (err instanceof ApiError) {
          form.setErrors(Object.keys(err.errors).length ? err.errors : { '': err.message });
          form.setStatus(
            err.status === 400 ? 'Please fix the fields marked below.' : 'Not delivered.'
          );
        } else {
          form.setErrors({ '': String((err as Error).message || err) });
          form.setStatus('Not delivered.');
        }
      }
    });
    node.appendChild(form.node);
    return { node, form };
  }

  // ------------------------------------------------------------------ filters
  private renderFilters(state: HubState): void {
    const totals: Record<string, number> = {};
    for (const s of state.sources) {
      for (const [status, n] of Object.entries(s.counts)) {
        totals[status] = (totals[status] || 0) + n;
      }
    }
    const chips: HTMLElement[] = [];
    const chip = (status: string | null, label: string, count: number) => {
      const b = h('button', 'polos-filter', count ? `${label} ${count}` : label);
      b.dataset.status = status ?? 'all';
      b.setAttribute('aria-pressed', String(this._filter === status));
      b.addEventListener('click', () => this.setFilter(status));
      chips.push(b);
    };
    chip(null, 'All', state.sources.reduce((n, s) => n + s.total, 0));
    for (const status of STATUSES) {
      if (totals[status] || this._filter === status) {
        chip(status, `${ICON[status]} ${status}`, totals[status] || 0);
      }
    }
    this.filters.replaceChildren(...chips);
  }

  // ------------------------------------------------------------------ sources
  private renderSources(sources: Source[]): void {
    const keep = new Set(sources.map(s => s.id));
    for (const id of [...this.lists.keys()]) {
      if (!keep.has(id)) {
        this.lists.delete(id);
        this.sourceNodes.get(id)?.remove();
        this.sourceNodes.delete(id);
        this.seen.delete(id);
      }
    }
    if (!sources.length) {
      this.sourcesNode.replaceChildren(
        h(
          'div',
          'polos-empty',
          'No runs yet: run a notebook cell with %polos or an agent, and its runs show here.'
        )
      );
      return;
    }
    const nodes: HTMLElement[] = [];
    for (const source of sources) {
      let node = this.sourceNodes.get(source.id);
      let list = this.lists.get(source.id);
      if (!node || !list) {
        node = h('section', 'polos-source');
        node.dataset.source = source.id;
        const head = h('div', 'polos-source-header');
        node.appendChild(head);
        const current = source;
        list = new RunList({
          fetchPage: (status, offset, limit) =>
            this.model.backend.runs(current.id, status, offset, limit),
          onOpen: run => this.actions.openRun(this.sourceOf(current.id), run),
          onJump: this.actions.jumpToCell
            ? run => this.actions.jumpToCell?.(this.sourceOf(current.id), run)
            : undefined
        });
        node.appendChild(list.node);
        this.sourceNodes.set(source.id, node);
        this.lists.set(source.id, list);
        void list.setFilter(this._filter);
      } else {
        const before = this.seen.get(source.id);
        const now = JSON.stringify([source.counts, source.pending, source.status]);
        if (before !== now) {
          void list.refresh();
        }
      }
      this.seen.set(source.id, JSON.stringify([source.counts, source.pending, source.status]));
      this.sources.set(source.id, source);
      this.renderSourceHeader(node.querySelector('.polos-source-header') as HTMLElement, source);
      node.dataset.status = source.status;
      nodes.push(node);
    }
    this.sourcesNode.replaceChildren(...nodes);
  }

  private sourceOf(id: string): Source {
    return this.sources.get(id) as Source;
  }

  private renderSourceHeader(head: HTMLElement, source: Source): void {
    const kind = h(
      'span',
      `polos-source-kind polos-source-${source.kind}`,
      source.kind === 'kernel' ? '● live' : '○ saved'
    );
    kind.title =
      source.kind === 'kernel'
        ? 'A running kernel owns this journal: its runs are live'
        : `Journal at rest: ${source.journal}`;
    const label = h('span', 'polos-source-label', source.label);
    label.title = source.journal || source.label;
    const parts: HTMLElement[] = [kind, label, h('span', 'polos-source-total', String(source.total))];
    if (source.status !== 'ok') {
      parts.push(h('div', 'polos-source-problem', source.error || source.status));
    }
    head.replaceChildren(...parts);
  }

  private readonly summary: HTMLElement;
  private readonly inbox: HTMLElement;
  private readonly inboxTitle: HTMLElement;
  private readonly inboxList: HTMLElement;
  private readonly filters: HTMLElement;
  private readonly sourcesNode: HTMLElement;
  private readonly cards = new Map<string, { node: HTMLElement; form: FormView }>();
  private readonly lists = new Map<string, RunList>();
  private readonly sourceNodes = new Map<string, HTMLElement>();
  private readonly sources = new Map<string, Source>();
  private readonly seen = new Map<string, string>();
  private _filter: string | null = null;
  private readonly ticker: number;
}
