/**
 * Group commit: `flush()` calls made while a sync is running share the one sync
 * that starts after it, so any number of concurrent callers cost at most two
 * syncs, and every caller resolves only after a sync that *started after its
 * call* finished (so everything appended before the call is covered).
 */
export class GroupCommit {
  private inFlight: Promise<void> | null = null;
  private queued: Promise<void> | null = null;

  /** `sync` writes and syncs everything pending at the moment it starts. */
  constructor(private readonly sync: () => Promise<void>) {}

  flush(): Promise<void> {
    if (this.queued) return this.queued;
    const running = this.inFlight;
    if (!running) return this.start();
    const next = running.then(
      () => undefined,
      () => undefined,
    ).then(() => {
      this.queued = null;
      return this.start();
    });
    this.queued = next;
    return next;
  }

  private start(): Promise<void> {
    // The sync starts after this turn's I/O callbacks (setImmediate, not a microtask): the messages
    // they queued go out first (a leader's proposals before its own write), and appends made in
    // the same turn share the sync.
    const p: Promise<void> = new Promise<void>((r) => setImmediate(r))
      .then(() => this.sync())
      .finally(() => {
        if (this.inFlight === p) this.inFlight = null;
      });
    this.inFlight = p;
    return p;
  }
}
