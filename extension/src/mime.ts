// Saved runs: a renderer for application/vnd.polos.run+json, the run snapshot polos_nb
// puts in a run's output. A notebook opened without a kernel shows each run's trace
// (timeline, tool calls, output), read-only.

import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { renderTrace } from './trace';
import type { RunSnapshot } from './types';

export const MIME_TYPE = 'application/vnd.polos.run+json';

export class RunRenderer extends Widget implements IRenderMime.IRenderer {
  constructor() {
    super();
    this.addClass('polos-saved-run');
    // The same swap as the text/html snapshot: hidden while the live widget beside it renders.
    this.addClass('polos-snapshot');
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[MIME_TYPE] as unknown as RunSnapshot;
    if (data && typeof data === 'object' && data.run_id) {
      this.node.replaceChildren(renderTrace(data, { saved: true }));
    } else {
      this.node.textContent = 'polos_nb: this run output is empty.';
    }
    return Promise.resolve();
  }
}

const extension: IRenderMime.IExtension = {
  id: 'polos-nb:saved-runs',
  description: 'Renders the trace of a run saved in a notebook (no kernel needed).',
  rendererFactory: {
    safe: true,
    mimeTypes: [MIME_TYPE],
    createRenderer: () => new RunRenderer()
  },
  // before text/html (50), after a live widget view (0): the snapshot of a run that is
  // still live in its kernel never hides the widget
  rank: 40,
  dataType: 'json'
};

export default extension;
