// The dashboard's one way to the server: the same /api routes the CLI's users script against,
// authenticated by the session cookie, with the session's CSRF token on every state change.

import type {
  ApiError,
  ApproveInput,
  ImageDetail,
  ImagesResponse,
  NodeRecord,
  NodeResponse,
  NodeSettingsInput,
  NodesResponse,
  ParkInput,
  SessionResponse,
  VerifyStatus,
} from '../../src/serve/http/api-types.js';

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** What to show for a failed call: the server's own message (it names the field), or the error. */
export function errorText(e: unknown): string {
  return e instanceof ApiFailure ? e.message : String(e);
}

let csrf: string | undefined;
let onSignedOut: () => void = () => undefined;

export function whenSignedOut(fn: () => void): void {
  onSignedOut = fn;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const message = (json as ApiError | undefined)?.error ?? `${res.status} ${res.statusText}`;
    if (res.status === 401 && path !== '/api/session') {
      csrf = undefined;
      onSignedOut();
    }
    throw new ApiFailure(res.status, message);
  }
  return json as T;
}

/**
 * The current session, or undefined when there is none (the sign-in form shows). The server says
 * "none" with 204, not 401, so a first visit logs no failed request in the browser's console.
 */
export async function currentSession(): Promise<SessionResponse | undefined> {
  const s = await call<SessionResponse | undefined>('GET', '/api/session');
  csrf = s?.csrf;
  return s;
}

export async function signIn(token: string): Promise<SessionResponse> {
  const s = await call<SessionResponse>('POST', '/api/session', { token });
  csrf = s.csrf;
  return s;
}

export async function signOut(): Promise<void> {
  await call<void>('DELETE', '/api/session').catch(() => undefined);
  csrf = undefined;
}

const enc = encodeURIComponent;

export const api = {
  nodes: (): Promise<NodesResponse> => call('GET', '/api/nodes'),
  node: (name: string): Promise<NodeResponse> => call('GET', `/api/nodes/${enc(name)}`),
  settings: (name: string, s: NodeSettingsInput): Promise<{ node: NodeRecord }> => call('PATCH', `/api/nodes/${enc(name)}`, s),
  reprovision: (name: string): Promise<{ node: NodeRecord }> => call('POST', `/api/nodes/${enc(name)}/reprovision`),
  park: (name: string, p: ParkInput): Promise<{ node: NodeRecord }> => call('POST', `/api/nodes/${enc(name)}/park`, p),
  unpark: (name: string): Promise<{ node: NodeRecord }> => call('POST', `/api/nodes/${enc(name)}/unpark`, {}),
  approve: (name: string, a: ApproveInput): Promise<{ node: NodeRecord }> => call('POST', `/api/nodes/${enc(name)}/approve`, a),
  remove: (name: string): Promise<void> => call('DELETE', `/api/nodes/${enc(name)}`),
  images: (): Promise<ImagesResponse> => call('GET', '/api/images'),
  image: (name: string): Promise<ImageDetail> => call('GET', `/api/images/${enc(name)}`),
  verify: (name: string): Promise<VerifyStatus> => call('POST', `/api/images/${enc(name)}/verify`, {}),
  diffUrl: (a: string, b: string): string => `/api/images/diff?a=${enc(a)}&b=${enc(b)}`,
};
