// Saved runs: a renderer for application/vnd.polos.run+json, the run snapshot polos_nb
// puts in a run's output beside its text/html snapshot. A notebook opened without a
// kernel shows each run's trace (timeline, tool calls, output), read-only.
//
// Trusted outputs show the text/html snapshot exactly as JupyterLab's own HTML renderer
// would (it has the live widget's look, and its stylesheet swaps it with the widget).
// Untrusted ones (a notebook from git or from someone else) would get that HTML sanitized,
// its styles stripped; they get the trace instead, built from the JSON with text nodes
// only, so it is safe whatever the run's output holds.

import { RenderedHTML } from '@jupyterlab/rendermime';
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { PanelLayout, Widget } from '@lumino/widgets';

import { renderTrace } from './trace';
import type { RunSnapshot } from './types';

export const MIME_TYPE = 'application/vnd.polos.run+json';
const HTML = 'text/html';

export class RunRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(options?: IRenderMime.IRendererOptions) {
    super();
    this.options = options;
    this.layout = new PanelLayout();
    this.addClass('polos-saved-run');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const layout = this.layout as PanelLayout;
    for (const child of [...layout.widgets]) {
      child.dispose();
    }
    this.node.replaceChildren();
    if (model.trusted && model.data[HTML] !== undefined && this.options) {
      // the HTML snapshot carries its own polos-snapshot root
      this.removeClass('polos-snapshot');
      this.node.dataset.view = 'html';
      const html = new RenderedHTML({ ...this.options, mimeType: HTML });
      layout.addWidget(html);
      await html.renderModel(model);
      return;
    }
    // The same swap as the HTML snapshot: hidden while the live widget beside it renders.
    this.addClass('polos-snapshot');
    this.node.dataset.view = 'trace';
    const data = model.data[MIME_TYPE] as unknown as RunSnapshot;
    if (data && typeof data === 'object' && data.run_id) {
      this.node.dataset.status = data.status;
      this.node.appendChild(renderTrace(data, { saved: true }));
    } else {
      this.node.textContent = 'polos_nb: this run output is empty.';
    }
  }

  private readonly options?: IRenderMime.IRendererOptions;
}

const extension: IRenderMime.IExtension = {
  id: 'polos-nb:saved-runs',
  description: 'Renders the trace of a run saved in a notebook (no kernel needed).',
  rendererFactory: {
    safe: true,
    mimeTypes: [MIME_TYPE],
    createRenderer: options => new RunRenderer(options)
  },
  // before text/html (50), after a live widget view (0): the snapshot of a run that is
  // still live in its kernel never hides the widget
  rank: 40,
  dataType: 'json'
};

export default extension;
