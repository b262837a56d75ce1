// The run inspector: one run's trace in the main area, refreshed while the run changes.

import { Widget } from '@lumino/widgets';

import { h } from './format';
import { PolosModel } from './model';
import { renderTrace } from './trace';
import type { RunSnapshot, Source } from './types';

export class RunInspector extends Widget {
  constructor(
    private readonly model: PolosModel,
    readonly source: Source,
    readonly runId: string,
    private readonly onJump?: (snapshot: RunSnapshot) => void
  ) {
    super();
    this.addClass('polos-inspector');
    this.id = `polos-run-${runId}`;
    this.title.label = `Run ${runId.slice(0, 8)}`;
    this.title.caption = `${source.label} — run ${runId}`;
    this.title.closable = true;
    model.changed.connect(this.onChanged, this);
    void this.load();
  }

  private onChanged(): void {
    if (!this.done) {
      void this.load();
    }
  }

  async load(): Promise<void> {
    try {
      const snapshot = await this.model.backend.run(this.source.id, this.runId);
      this.done = Boolean(snapshot.done);
      this.title.label = `${snapshot.workflow_id} ${this.runId.slice(0, 8)}`;
      const bar = h('div', 'polos-inspector-bar');
      bar.appendChild(h('span', 'polos-inspector-where', this.source.label));
      if (this.onJump) {
        const jump = h('button', 'polos-inspector-jump', 'Jump to cell');
        jump.addEventListener('click', () => this.onJump?.(snapshot));
        bar.appendChild(jump);
      }
      this.node.replaceChildren(bar, renderTrace(snapshot));
    } catch (err) {
      this.node.replaceChildren(
        h('div', 'polos-inspector-error', `Could not load run ${this.runId}: ${String((err as Error).message || err)}`)
      );
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.changed.disconnect(this.onChanged, this);
    super.dispose();
  }

  private done = false;
}
