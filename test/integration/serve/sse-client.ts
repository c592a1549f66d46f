import { request, type IncomingMessage } from 'node:http';

// A server-sent events client over a real socket, for GET /api/stream: collects each message
// (id, event, data) and comment as it arrives, and waits for the one a test expects.

export interface SseMessage {
  id?: string;
  event?: string;
  data: string;
}

export interface SseStream {
  status: number;
  headers: IncomingMessage['headers'];
  /** The body as text, for a refusal (not an event stream). */
  body(): string;
  messages: SseMessage[];
  comments: string[];
  /** Resolves when the server ends the response (or the socket closes); rejects after `ms`. */
  ended(ms?: number): Promise<void>;
  /** The first message (already here or still to come) that `pred` accepts; rejects after `ms`. */
  waitFor(pred: (m: SseMessage) => boolean, ms?: number): Promise<SseMessage>;
  close(): void;
}

export function openSse(base: string, path: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const req = request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'GET', headers, agent: false }, (res) => {
      let text = '';
      let buffered = '';
      const messages: SseMessage[] = [];
      const comments: string[] = [];
      const waiters = new Set<() => void>();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        buffered += chunk;
        let cut = buffered.indexOf('\n\n');
        while (cut >= 0) {
          const block = buffered.slice(0, cut);
          buffered = buffered.slice(cut + 2);
          const m: SseMessage = { data: '' };
          let isMessage = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else if (line.startsWith('id: ')) [m.id, isMessage] = [line.slice(4), true];
            else if (line.startsWith('event: ')) [m.event, isMessage] = [line.slice(7), true];
            else if (line.startsWith('data: ')) [m.data, isMessage] = [line.slice(6), true];
          }
          if (isMessage) messages.push(m);
          cut = buffered.indexOf('\n\n');
        }
        for (const w of waiters) w();
      });
      const end = new Promise<void>((done) => {
        res.on('end', done);
        res.on('close', done);
        res.on('error', () => done());
      });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: () => text,
        messages,
        comments,
        ended: (ms = 5000) =>
          new Promise<void>((ok, fail) => {
            const timer = setTimeout(() => fail(new Error(`the stream did not end within ${ms} ms`)), ms);
            void end.then(() => {
              clearTimeout(timer);
              ok();
            });
          }),
        waitFor(pred, ms = 5000) {
          return new Promise((ok, fail) => {
            const check = (): void => {
              const hit = messages.find(pred);
              if (hit) {
                waiters.delete(check);
                clearTimeout(timer);
                ok(hit);
              }
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`no matching event within ${ms} ms; got ${JSON.stringify(messages.map((x) => x.id))}`));
            }, ms);
            waiters.add(check);
            check();
          });
        },
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}
