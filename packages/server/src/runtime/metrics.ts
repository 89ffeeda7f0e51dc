/** Request latency from arrival to reply, as `srvr` / `mntr` report it. */
export class LatencyStats {
  private min = Infinity;
  private max = 0;
  private total = 0;
  private count = 0;
  private readonly started = new Map<string, number>();

  begin(connId: number, xid: number, now: number): void {
    this.started.set(`${connId}:${xid}`, now);
  }

  end(connId: number, xid: number, now: number): void {
    const key = `${connId}:${xid}`;
    const t0 = this.started.get(key);
    if (t0 === undefined) return;
    this.started.delete(key);
    const ms = now - t0;
    this.count++;
    this.total += ms;
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
  }

  /** Drops timings of a connection that went away. */
  forget(connId: number): void {
    const prefix = `${connId}:`;
    for (const key of this.started.keys()) if (key.startsWith(prefix)) this.started.delete(key);
  }

  snapshot(): { min: number; avg: number; max: number; count: number } {
    if (this.count === 0) return { min: 0, avg: 0, max: 0, count: 0 };
    return { min: this.min, avg: Math.round((this.total / this.count) * 100) / 100, max: this.max, count: this.count };
  }
}
