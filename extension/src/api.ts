// The server extension's HTTP API (polos_nb/server/_handlers.py), through JupyterLab's
// ServerConnection: it sends Jupyter's credentials and the XSRF token on every request.

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  AnswerRequest,
  ApiError,
  Backend,
  HubState,
  RunPage,
  RunSnapshot
} from './types';

export class PolosApi implements Backend {
  constructor(readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  /** The page of an approval (``polos/approve/<run>/<key>``) on this server. */
  approvalPage(runId: string, key: string): string {
    return URLExt.join(
      this.settings.baseUrl,
      'polos',
      'approve',
      encodeURIComponent(runId),
      encodeURIComponent(key)
    );
  }

  state(since: number, timeout: number): Promise<HubState> {
    const query = since >= 0 ? `?since=${since}&timeout=${timeout}` : '';
    return this.request<HubState>(`api/state${query}`);
  }

  runs(source: string, status: string | null, offset: number, limit: number): Promise<RunPage> {
    const params = new URLSearchParams({
      source,
      offset: String(offset),
      limit: String(limit)
    });
    if (status) {
      params.set('status', status);
    }
    return this.request<RunPage>(`api/runs?${params}`);
  }

  run(source: string, id: string): Promise<RunSnapshot> {
    const params = new URLSearchParams({ source, id });
    return this.request<RunSnapshot>(`api/run?${params}`);
  }

  answer(request: AnswerRequest): Promise<unknown> {
    return this.request('api/answer', { method: 'POST', body: JSON.stringify(request) });
  }

  private async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    const url = URLExt.join(this.settings.baseUrl, 'polos', path);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (err) {
      throw new ServerConnection.NetworkError(err as TypeError);
    }
    const text = await response.text();
    let body: any = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = { message: text };
      }
    }
    if (!response.ok) {
      throw new ApiError(
        response.status,
        (body && body.message) || response.statusText,
        (body && body.errors) || {}
      );
    }
    return body as T;
  }
}
