/** `events.once` for any emitter with `once` (eventemitter3 included): resolves with the event's arguments. */
export function once(emitter: { once(event: string, fn: (...args: any[]) => void): unknown }, event: string): Promise<unknown[]> {
  return new Promise((resolve) => {
    emitter.once(event, (...args: unknown[]) => resolve(args));
  });
}
