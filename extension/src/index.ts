// polos_nb's JupyterLab extension: the "Polos" sidebar (runs of every open kernel and of
// journals at rest, an approvals inbox with a badge), a notification when a run starts
// waiting for a person, and the run inspector. Saved runs render through mime.ts.
//
// Nothing in polos_nb needs this extension: without it, magics and widgets work as before.

import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { MainAreaWidget, Notification } from '@jupyterlab/apputils';
import { NotebookPanel } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { PolosApi } from './api';
import { outputMentionsRun } from './format';
import { RunInspector } from './inspector';
import { approvalKey, PolosModel } from './model';
import { PolosPanel } from './panel';
import type { Approval, RunSummary, Source } from './types';

const SIDEBAR_ID = 'polos-nb-sidebar';

export const polosIcon = new LabIcon({
  name: 'polos-nb:icon',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">' +
    '<g class="jp-icon3" fill="#616161"><circle cx="12" cy="12" r="3.2"/>' +
    '<path d="M12 2a10 10 0 1 0 10 10A10 10 0 0 0 12 2zm0 18a8 8 0 1 1 8-8 8 8 0 0 1-8 8z"/>' +
    '<path d="M11 4h2v4h-2zM11 16h2v4h-2zM4 11h4v2H4zM16 11h4v2h-4z"/></g></svg>'
});

export namespace CommandIDs {
  export const openSidebar = 'polos:open-sidebar';
  export const openRun = 'polos:open-run';
  export const jumpToCell = 'polos:jump-to-cell';
}

/** The sidebar: the panel in a Lumino widget, with the inbox count as its tab's badge. */
class PolosSidebar extends Widget {
  constructor(model: PolosModel, panel: PolosPanel) {
    super();
    this.id = SIDEBAR_ID;
    this.addClass('polos-sidebar');
    this.title.icon = polosIcon;
    this.title.caption = 'Polos: runs and approvals';
    this.node.appendChild(panel.node);
    model.changed.connect((_, state) => this.setBadge(state.approvals.length), this);
  }

  setBadge(count: number): void {
    this.title.caption = count
      ? `Polos: ${count} run${count === 1 ? '' : 's'} waiting for you`
      : 'Polos: runs and approvals';
    // Lumino writes a title's dataset as data-<key> attributes on its tab (CSS shows the count)
    this.title.dataset = { poloswaiting: String(count) };
    this.title.className = count ? 'polos-tab polos-tab-waiting' : 'polos-tab';
  }
}

async function jumpToCell(
  app: JupyterFrontEnd,
  notebook: string | null,
  runId: string
): Promise<boolean> {
  if (!notebook) {
    Notification.info(`polos_nb: no notebook is known for run ${runId}.`, { autoClose: 5000 });
    return false;
  }
  const widget = (await app.commands.execute('docmanager:open', { path: notebook })) as
    | NotebookPanel
    | undefined;
  if (!widget || !(widget instanceof NotebookPanel)) {
    return false;
  }
  await widget.context.ready;
  await widget.revealed;
  const notebookWidget = widget.content;
  const index = notebookWidget.widgets.findIndex(cell => {
    if (cell.model.type !== 'code') {
      return false;
    }
    const outputs = (cell.model as any).outputs?.toJSON?.() ?? [];
    return outputMentionsRun(outputs, runId);
  });
  if (index < 0) {
    Notification.info(
      `polos_nb: no cell of ${notebook} shows run ${runId} (its output may have been cleared).`,
      { autoClose: 6000 }
    );
    return false;
  }
  notebookWidget.activeCellIndex = index;
  await notebookWidget.scrollToItem(index, 'center');
  const node = notebookWidget.widgets[index].node;
  node.classList.add('polos-jump-target');
  window.setTimeout(() => node.classList.remove('polos-jump-target'), 2500);
  return true;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'polos-nb:plugin',
  description: 'Runs, approvals and run traces of polos_nb in JupyterLab.',
  autoStart: true,
  optional: [ILabShell],
  activate: (app: JupyterFrontEnd) => {
    const api = new PolosApi();
    const model = new PolosModel(api);
    const inspectors = new Map<string, MainAreaWidget<RunInspector>>();

    const openRun = (source: Source, runId: string) => {
      const key = `${source.id}|${runId}`;
      const existing = inspectors.get(key);
      if (existing && !existing.isDisposed) {
        app.shell.activateById(existing.id);
        return;
      }
      const content = new RunInspector(model, source, runId, () => {
        void jumpToCell(app, source.notebook, runId);
      });
      const widget = new MainAreaWidget({ content });
      widget.id = `polos-inspector-${Math.random().toString(36).slice(2)}`;
      widget.title.icon = polosIcon;
      widget.disposed.connect(() => inspectors.delete(key));
      inspectors.set(key, widget);
      app.shell.add(widget, 'main');
      app.shell.activateById(widget.id);
    };

    const panel = new PolosPanel(model, {
      openRun: (source: Source, run: RunSummary) => openRun(source, run.id),
      jumpToCell: (source: Source, run: RunSummary) => {
        void jumpToCell(app, source.notebook, run.id);
      },
      openNotebook: (path: string) => {
        void app.commands.execute('docmanager:open', { path });
      }
    });
    const sidebar = new PolosSidebar(model, panel);
    app.shell.add(sidebar, 'left', { rank: 850 });

    app.commands.addCommand(CommandIDs.openSidebar, {
      label: 'Polos: Show Runs and Approvals',
      execute: () => app.shell.activateById(sidebar.id)
    });
    app.commands.addCommand(CommandIDs.openRun, {
      label: 'Polos: Open Run Inspector',
      execute: args => {
        const source = model.state?.sources.find(s => s.id === args.source);
        if (source) {
          openRun(source, String(args.id));
        }
      }
    });
    app.commands.addCommand(CommandIDs.jumpToCell, {
      label: 'Polos: Jump to the Cell of a Run',
      execute: args => jumpToCell(app, (args.notebook as string) || null, String(args.id))
    });

    // Each approval's toast, by approval: once the approval is answered (in the sidebar, the
    // run's view, Slack, another browser) its toast goes, rather than asking on for seconds.
    const toasts = new Map<string, string>();
    model.changed.connect((_, state) => {
      const waiting = new Set(state.approvals.map(approvalKey));
      for (const [key, id] of toasts) {
        if (!waiting.has(key)) {
          Notification.dismiss(id);
          toasts.delete(key);
        }
      }
    });
    model.arrived.connect((_, approvals: Approval[]) => {
      for (const approval of approvals) {
        const id = Notification.warning(
          `${approval.workflow_id} waits for you: ${approval.form.title || approval.key}` +
            (approval.notebook ? ` (${approval.notebook})` : ''),
          {
            autoClose: 10000,
            actions: [
              {
                label: 'Answer',
                caption: 'Open the Polos inbox',
                callback: () => app.shell.activateById(sidebar.id)
              }
            ]
          }
        );
        toasts.set(approvalKey(approval), id);
      }
    });
    model.start();
    (window as any).polosNb = { model, sidebar, panel };
  }
};

export default plugin;
