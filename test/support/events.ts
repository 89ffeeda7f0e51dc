import type { EventEmitter } from 'eventemitter3';

/** The arguments of `emitter`'s next `event`; rejects after `timeoutMs` (default 10 s). */
export function nextEvent<E extends EventEmitter.ValidEventTypes, K extends EventEmitter.EventNames<E>>(
  emitter: EventEmitter<E>,
  event: K,
  timeoutMs = 10_000,
): Promise<Parameters<EventEmitter.EventListener<E, K>>> {
  return new Promise((resolve, reject) => {
    const fn = ((...args: Parameters<EventEmitter.EventListener<E, K>>) => {
      clearTimeout(timer);
      resolve(args);
    }) as EventEmitter.EventListener<E, K>;
    const timer = setTimeout(() => {
      emitter.off(event, fn);
      reject(new Error(`no '${String(event)}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    emitter.once(event, fn);
  });
}
