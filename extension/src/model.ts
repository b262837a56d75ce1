// The browser's copy of the server's state: sources and waiting approvals, kept current
// by long polling (GET polos/api/state?since=<version> answers when something changed).

import { Signal, ISignal } from '@lumino/signaling';

import type { Approval, Backend, HubState } from './types';

export class PolosModel {
  constructor(
    readonly backend: Backend,
    private readonly options: { timeout?: number; retry?: number } = {}
  ) {}

  get state(): HubState | null {
    return this._state;
  }

  get approvals(): Approval[] {
    return this._state ? this._state.approvals : [];
  }

  /** Emitted with the new state each time it changes. */
  get changed(): ISignal<this, HubState> {
    return this._changed;
  }

  /** Emitted with the approvals that were not there before (not on the first state). */
  get arrived(): ISignal<this, Approval[]> {
    return this._arrived;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  start(): void {
    if (!this._running && !this._disposed) {
      this._running = true;
      void this._loop();
    }
  }

  dispose(): void {
    this._disposed = true;
    Signal.clearData(this);
  }

  /** Ask again now (after an answer, say), without waiting for the next change. */
  async refresh(): Promise<void> {
    const state = await this.backend.state(-1, 0);
    this._apply(state);
  }

  private async _loop(): Promise<void> {
    const timeout = this.options.timeout ?? 25;
    let failures = 0;
    while (!this._disposed) {
      try {
        const since = this._state ? this._state.version : -1;
        const state = await this.backend.state(since, timeout);
        failures = 0;
        this._apply(state);
      } catch {
        failures += 1;
        const wait = Math.min(30_000, (this.options.retry ?? 1000) * 2 ** Math.min(failures, 5));
        await new Promise(resolve => setTimeout(resolve, wait));
      }
    }
    this._running = false;
  }

  private _apply(state: HubState): void {
    if (this._disposed) {
      return;
    }
    if (this._state && state.version === this._state.version) {
      return;
    }
    const first = this._state === null;
    const fresh = state.approvals.filter(a => !this._seen.has(approvalKey(a)));
    for (const a of state.approvals) {
      this._seen.add(approvalKey(a));
    }
    this._state = state;
    this._changed.emit(state);
    if (!first && fresh.length) {
      this._arrived.emit(fresh);
    }
  }

  private _state: HubState | null = null;
  private _seen = new Set<string>();
  private _running = false;
  private _disposed = false;
  private _changed = new Signal<this, HubState>(this);
  private _arrived = new Signal<this, Approval[]>(this);
}

export function approvalKey(a: Approval): string {
  return `${a.execution_id}/${a.key}`;
}
