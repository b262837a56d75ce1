// The JSON shapes the server extension (polos_nb/server) sends; see its _handlers module.

export type RunStatus =
  | 'queued'
  | 'running'
  | 'waiting'
  | 'completed'
  | 'failed'
  | 'cancelled';

export const STATUSES: RunStatus[] = [
  'running',
  'waiting',
  'queued',
  'completed',
  'failed',
  'cancelled'
];

export interface RunSummary {
  id: string;
  workflow_id: string;
  workflow_type: string;
  status: RunStatus;
  created_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number | null;
  pending: number;
}

export interface RunPage {
  source: string;
  total: number;
  matching: number;
  counts: Record<string, number>;
  offset: number;
  runs: RunSummary[];
}

export interface Source {
  id: string;
  kind: 'kernel' | 'journal';
  label: string;
  journal: string | null;
  notebook: string | null;
  kernel_id: string | null;
  status: 'ok' | 'busy' | 'locked' | 'error';
  error: string | null;
  counts: Record<string, number>;
  total: number;
  pending: number;
}

export interface JSONSchema {
  [key: string]: any;
}

export interface FormSpec {
  key: string;
  title: string;
  description: string;
  context: unknown;
  schema: JSONSchema;
  approval: boolean;
  tool: string | null;
  source: string | null;
}

export interface Approval {
  execution_id: string;
  root_execution_id: string;
  root_workflow_id: string;
  workflow_id: string;
  key: string;
  created_at: string | null;
  url: string | null;
  form: FormSpec;
  source: string;
  notebook: string | null;
}

export interface HubState {
  version: number;
  sources: Source[];
  approvals: Approval[];
}

export interface StepView {
  key: string;
  kind?: string | null;
  status?: string | null;
  attempt?: number;
  started?: string | null;
  ended?: string | null;
  ms?: number | null;
  detail?: string | null;
  error?: string | null;
  model?: string | null;
  tokens?: { input: number; output: number } | null;
}

export interface ToolView {
  call_id: string;
  name: string | null;
  arguments?: string | null;
  status?: string | null;
  result?: string | null;
  error?: string | null;
}

export interface ApprovalView {
  key: string;
  title?: string;
  description?: string;
  status?: string;
  answer?: string | null;
}

/** A run as its widget shows it (RunState.snapshot in polos_nb/notebook/_run.py). */
export interface RunSnapshot {
  run_id: string;
  workflow_id: string;
  workflow_type?: string;
  status: string;
  steps?: StepView[];
  tools?: ToolView[];
  text?: string;
  usage?: {
    input_tokens?: number;
    output_tokens?: number;
    cost_usd?: number | null;
  };
  approvals?: ApprovalView[];
  output?: string | null;
  error?: string | null;
  note?: string | null;
  started_at?: string | null;
  ended_at?: string | null;
  done?: boolean;
  input?: unknown;
  source?: string;
  notebook?: string | null;
}

export type Decision = 'approve' | 'always' | 'reject' | 'submit';

export interface AnswerRequest {
  execution_id: string;
  key: string;
  decision: Decision;
  data: Record<string, unknown>;
  source?: string;
}

/** What the sidebar and the inbox need from the server (a fake in unit tests). */
export interface Backend {
  state(since: number, timeout: number): Promise<HubState>;
  runs(
    source: string,
    status: string | null,
    offset: number,
    limit: number
  ): Promise<RunPage>;
  run(source: string, id: string): Promise<RunSnapshot>;
  answer(request: AnswerRequest): Promise<unknown>;
}

/** An error the server answered with: HTTP status, message, per-field errors. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: Record<string, string> = {}
  ) {
    super(message);
  }
}
