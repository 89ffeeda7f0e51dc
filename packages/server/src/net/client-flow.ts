export interface FlowLimits {
  /** Unanswered requests of one connection past which its socket is not read. */
  outstandingLimit: number;
  /** Unanswered requests of one connection past which it is closed. */
  outstandingCloseLimit: number;
  /** Unsent reply bytes of one connection past which no more of its frames are handled nor read. */
  unsentBytesLimit: number;
  /** Unsent reply bytes of one connection past which it is closed. */
  unsentBytesCloseLimit: number;
}

/** Requests read from every connection and not yet answered (ZooKeeper's globalOutstandingLimit). */
export class GlobalOutstanding {
  count = 0;
  constructor(readonly limit: number) {}

  get over(): boolean {
    return this.count >= this.limit;
  }
}

/**
 * The counts that decide whether one client connection is read, handled, or closed:
 * outstanding = requests read minus responses sent; unsent = reply bytes handed to the socket and
 * not yet written, plus the batch not yet handed over. Pure bookkeeping; the listener acts on it.
 */
export class ConnFlow {
  outstanding = 0;
  /** Bytes passed to ws.send whose write has not completed. */
  inSocket = 0;
  /** Bytes of frames waiting in the reply batch. */
  inBatch = 0;

  constructor(
    private readonly limits: FlowLimits,
    private readonly global: GlobalOutstanding,
  ) {}

  get unsent(): number {
    return this.inSocket + this.inBatch;
  }

  /** Counts `n` requests read; returns why the connection must close if that is past the close limit. */
  read(n: number): string | null {
    this.outstanding += n;
    this.global.count += n;
    if (this.outstanding > this.limits.outstandingCloseLimit) {
      return `too many outstanding requests (${this.outstanding}, clientOutstandingCloseLimit=${this.limits.outstandingCloseLimit})`;
    }
    return null;
  }

  /** A response went out. */
  answered(): void {
    if (this.outstanding === 0) return;
    this.outstanding--;
    this.global.count--;
  }

  /** Why the connection must close because of its reply backlog, or null. */
  overBytes(): string | null {
    if (this.unsent <= this.limits.unsentBytesCloseLimit) return null;
    return `client is not reading its replies (${this.unsent} bytes unsent, clientUnsentBytesCloseLimit=${this.limits.unsentBytesCloseLimit})`;
  }

  /** More of its frames may be handed to the server (its reply backlog is below the pause limit). */
  get mayHandle(): boolean {
    return this.unsent < this.limits.unsentBytesLimit;
  }

  /** Its socket may be read. */
  get mayRead(): boolean {
    return this.mayHandle && this.outstanding < this.limits.outstandingLimit && !this.global.over;
  }

  /** The connection is gone: its unanswered requests no longer count globally. */
  release(): void {
    this.global.count -= this.outstanding;
    this.outstanding = 0;
  }
}
