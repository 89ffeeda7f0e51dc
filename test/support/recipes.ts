import { OpCode } from '@zabkit/protocol';
import type { ZabClient } from '@zabkit/client';

/**
 * Makes `client` lose the reply to its next request with opcode `op`: the
 * request reached the server and was applied (only successful replies are
 * dropped), the reply is dropped and
 * `onDrop` runs (typically `proxy.cut()`, so the client sees ConnectionLoss).
 * Test-only: patches the session's private reply handler.
 */
export function loseNextReply(client: ZabClient, onDrop: () => void, op: number = OpCode.create): Promise<void> {
  const session = client.session as unknown as { onResponse(f: { op: number; err?: string }): void };
  const original = session.onResponse.bind(session);
  return new Promise((resolve) => {
    session.onResponse = (f) => {
      if (f.op === op && (f.err === undefined || f.err === 'Ok')) {
        session.onResponse = original;
        onDrop();
        resolve();
        return;
      }
      original(f);
    };
  });
}

/** The first argument of the next `event` from a typed eventemitter3 emitter. */
export function once<T = void>(emitter: { once(event: never, fn: never): unknown }, event: string): Promise<T> {
  return new Promise((resolve) => (emitter as unknown as { once(e: string, fn: (arg: T) => void): void }).once(event, resolve));
}

export function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

/** Polls `fn` until it returns true (bounded). For state with no event to wait on. */
export async function eventually(fn: () => Promise<boolean> | boolean, timeoutMs = 10_000, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Children as of now: `sync` first, since another client's server may not have applied the latest writes yet. */
export async function childrenOf(client: ZabClient, path: string): Promise<string[]> {
  await client.sync(path);
  return client.getChildren(path);
}

/** Stat as of now (`sync` first), or null. */
export async function statOf(client: ZabClient, path: string): Promise<Awaited<ReturnType<ZabClient['exists']>>> {
  await client.sync(path);
  return client.exists(path);
}
