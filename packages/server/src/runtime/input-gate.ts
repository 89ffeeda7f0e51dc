/**
 * Holds a node's inputs while the runtime rebuilds its state across awaits (a TRUNC reload streams
 * the log from disk segment by segment): a peer message, client frame or disconnect must not meet a
 * half-built tree, so each waits here, in arrival order, and runs once the reload is done.
 */
export class InputGate {
  private held: (() => void)[] | null = null;

  /** `onError` gets what a held input throws: its socket handler, which would have caught it, is gone. */
  constructor(private readonly onError: (err: unknown) => void) {}

  get holding(): boolean {
    return this.held !== null;
  }

  /** Runs `input` now, or when the gate is released. */
  run(input: () => void): void {
    if (this.held) this.held.push(input);
    else input();
  }

  hold(): void {
    this.held ??= [];
  }

  /** Runs what waited, in order; one that throws does not keep the others from running. */
  release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const input of held) {
      try {
        input();
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
