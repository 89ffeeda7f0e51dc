import { isRetryable } from './errors.js';

/**
 * Runs `read` again and again while someone asked for it (`kick()`), never two
 * at once: kicks that arrive during a read cause exactly one more read after
 * it, so the last read always starts after the last kick (no lost update).
 * Retryable errors are retried with a short backoff; any other error goes to
 * `onFatal` and stops the loop until the next kick.
 * @internal
 */
export class Refresher {
  private dirty = false;
  private running: Promise<void> | null = null;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly read: () => Promise<void>,
    private readonly onFatal: (err: unknown) => void,
    private readonly retryDelayMs = 50,
  ) {}

  /** Asks for a read; resolves when a read that started after this call has finished (or the loop stopped). */
  kick(): Promise<void> {
    this.dirty = true;
    if (this.stopped) return Promise.resolve();
    this.running ??= this.loop().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Lets `kick()` run reads again after `stop()`. */
  resume(): void {
    this.stopped = false;
  }

  stop(): void {
    this.stopped = true;
    this.dirty = false;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
  }

  private async loop(): Promise<void> {
    let delay = this.retryDelayMs;
    while (this.dirty && !this.stopped) {
      this.dirty = false;
      try {
        await this.read();
        delay = this.retryDelayMs;
      } catch (err) {
        if (this.stopped) return;
        if (!isRetryable(err)) {
          this.onFatal(err);
          return;
        }
        this.dirty = true;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          this.timer = setTimeout(resolve, delay);
        });
        delay = Math.min(1000, delay * 2);
      }
    }
  }
}
