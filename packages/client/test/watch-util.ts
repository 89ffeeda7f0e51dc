import type { WatchEvent, Watcher } from '../src/index.js';

/**
 * Sets a watch through `register`; resolves once the call that sets it has
 * succeeded, with `fired`, the promise of the watch's event. (Wrapped in an
 * object: an async function cannot resolve with a bare promise.)
 */
export async function arm(register: (watch: Watcher) => Promise<unknown>): Promise<{ fired: Promise<WatchEvent> }> {
  let resolve!: (e: WatchEvent) => void;
  const fired = new Promise<WatchEvent>((r) => (resolve = r));
  await register((e) => resolve(e));
  return { fired };
}
