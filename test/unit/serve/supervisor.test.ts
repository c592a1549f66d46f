import { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installProcessGuards, INTERNAL_ERROR_EXIT, type ErrorSource } from '../../../src/serve/guards.js';
import { supervise, type SignalSource, type Supervised } from '../../../src/serve/supervisor.js';
import { log } from '../../../src/util/log.js';

// What is logged is checked against the real process (serve-signals.test.ts); here it is noise.
const level = log.level;
beforeAll(() => {
  log.level = 'silent';
});
afterAll(() => {
  log.level = level;
});

/** A start-up the test finishes by hand, and a service that records what was asked of it. */
function harness() {
  const proc = new EventEmitter();
  const calls: string[] = [];
  let release: () => void = () => undefined;
  let startSignal: AbortSignal | undefined;
  const svc: Supervised = {
    reload: async () => {
      calls.push('reload');
    },
    close: async () => {
      calls.push('close');
    },
  };
  const done = supervise({
    proc: proc as unknown as SignalSource,
    start: async (signal) => {
      startSignal = signal;
      await new Promise<void>((r) => (release = r));
      signal.throwIfAborted();
      return svc;
    },
  });
  const tick = () => new Promise((r) => setTimeout(r, 5));
  return { proc, calls, done, release: () => release(), signal: () => startSignal, tick };
}

describe('kiln serve signals', () => {
  it('remembers SIGHUPs during start-up and reloads once when it is done', async () => {
    const h = harness();
    h.proc.emit('SIGHUP');
    h.proc.emit('SIGHUP');
    await h.tick();
    expect(h.calls).toEqual([]);
    h.release();
    await h.tick();
    expect(h.calls).toEqual(['reload']);
    h.proc.emit('SIGHUP');
    await h.tick();
    expect(h.calls).toEqual(['reload', 'reload']);
    h.proc.emit('SIGTERM');
    await h.done;
    expect(h.calls).toEqual(['reload', 'reload', 'close']);
    // handlers are gone once stopped
    expect(h.proc.listenerCount('SIGHUP') + h.proc.listenerCount('SIGTERM') + h.proc.listenerCount('SIGINT')).toBe(0);
  });

  it('aborts start-up on SIGTERM and ends without starting to serve', async () => {
    const h = harness();
    await h.tick();
    h.proc.emit('SIGTERM');
    expect(h.signal()?.aborted).toBe(true);
    h.proc.emit('SIGINT');
    h.release();
    await h.done;
    expect(h.calls).toEqual([]);
  });

  it('rejects when start-up fails by itself', async () => {
    const proc = new EventEmitter();
    await expect(supervise({ proc: proc as unknown as SignalSource, start: () => Promise.reject(new Error('EADDRINUSE')) })).rejects.toThrow('EADDRINUSE');
    expect(proc.listenerCount('SIGHUP')).toBe(0);
  });
});

describe('process-level last net', () => {
  const src = () => new EventEmitter() as EventEmitter & ErrorSource;
  it('counts and keeps the process by default', () => {
    const proc = src();
    const counted: string[] = [];
    const exits: number[] = [];
    const off = installProcessGuards({ proc, count: (k) => counted.push(k), exitOnInternalError: false, exit: (c) => exits.push(c) });
    proc.emit('uncaughtException', new Error('boom'), 'uncaughtException');
    proc.emit('unhandledRejection', 'not an Error');
    expect(counted).toEqual(['uncaughtException', 'unhandledRejection']);
    expect(exits).toEqual([]);
    off();
    expect(proc.listenerCount('uncaughtException')).toBe(0);
  });

  it('exits with 70 under --exit-on-internal-error once the log is out', async () => {
    const proc = src();
    const exits: number[] = [];
    installProcessGuards({ proc, count: () => undefined, exitOnInternalError: true, exit: (c) => exits.push(c) });
    proc.emit('uncaughtException', new Error('boom'), 'uncaughtException');
    for (let i = 0; i < 100 && exits.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(exits[0]).toBe(INTERNAL_ERROR_EXIT);
  });
});
