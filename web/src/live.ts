// The live feed: one EventSource on /api/stream for the whole page, fanned out to the views. The
// browser reconnects by itself and resumes with Last-Event-ID, so a restart of kiln serve or a
// dropped Wi-Fi costs no events.

import type { StreamMessage } from '../../src/serve/http/api-types.js';

type Listener = (m: StreamMessage) => void;
export type LinkState = 'connecting' | 'live' | 'reconnecting';

const listeners = new Set<Listener>();
let source: EventSource | undefined;

export function onMessage(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function openStream(after: number, onState: (s: LinkState) => void): void {
  closeStream();
  onState('connecting');
  const es = new EventSource(`/api/stream?after=${after}`);
  source = es;
  es.addEventListener('open', () => onState('live'));
  es.addEventListener('error', () => onState(es.readyState === EventSource.CLOSED ? 'connecting' : 'reconnecting'));
  es.addEventListener('node-event', (e) => {
    const m = JSON.parse((e as MessageEvent<string>).data) as StreamMessage;
    for (const fn of listeners) fn(m);
  });
}

export function closeStream(): void {
  source?.close();
  source = undefined;
}
