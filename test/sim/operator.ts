import type { SimCluster } from './sim-cluster.js';

/** How often a waiting rejoin looks again whether it is safe (sim ms). */
const RETRY_MS = 100;

/**
 * What an operator does for the simulated cluster: restarts servers, and when a start is refused
 * (or a TRUNC reload stops a server) because its disk no longer holds a whole history, runs
 * `--rejoin-empty` on it, so that the leader sends it a full SNAP.
 *
 * A careful operator waits first until the rest of the ensemble is healthy: a server that starts
 * empty has given up the copies it held, and a txn whose commit quorum counted one of them could
 * otherwise be outvoted by servers that never logged it (for a voter: every other voter is serving
 * one leader with that leader's applied history durable on its disk; an observer's copies count
 * for no quorum). When so many voters wait that the rest cannot form a quorum, they rejoin one at
 * a time (lowest id first) once every other voter is running: the empty one then follows the best
 * of those. Either way one rejoin at a time: the next waits until the last one serves. Servers
 * whose disk a fault damaged are `damaged` until they serve again; the fault schedule damages one
 * server at a time (a TRUNC reload can stop a second one, see the README).
 */
export class Operator {
  readonly damaged = new Set<number>();
  private readonly waiting = new Set<number>();
  /** Rejoined empty, not serving yet. */
  private readonly rejoined = new Set<number>();

  constructor(private readonly sim: SimCluster) {
    sim.hooks.push({ onRefusal: (id) => this.rejoinWhenSafe(id) });
    const prev = sim.onStep;
    sim.onStep = () => {
      prev?.();
      if (this.damaged.size > 0) for (const id of this.damaged) if (this.serving(id)) this.damaged.delete(id);
      if (this.rejoined.size > 0) for (const id of this.rejoined) if (this.serving(id) || !this.sim.running(id)) this.rejoined.delete(id);
    };
  }

  /** Starts a server that is down; a refusal leads to a rejoin (see the class comment). */
  start(id: number): void {
    if (!this.sim.running(id) && !this.waiting.has(id)) this.sim.start(id);
  }

  /** True while some server is damaged or waiting to rejoin. */
  get busy(): boolean {
    return this.damaged.size > 0 || this.waiting.size > 0;
  }

  private rejoinWhenSafe(id: number): void {
    if (this.waiting.has(id)) return;
    this.damaged.add(id);
    this.waiting.add(id);
    const attempt = () => {
      if (this.sim.running(id)) {
        this.waiting.delete(id);
        return;
      }
      if (!this.safeToEmpty(id)) {
        this.sim.schedule(this.sim.now + RETRY_MS, attempt);
        return;
      }
      this.waiting.delete(id);
      this.rejoined.add(id);
      this.sim.rejoinEmpty(id);
    };
    this.sim.schedule(this.sim.now, attempt);
  }

  private safeToEmpty(id: number): boolean {
    const { sim } = this;
    if (sim.peers.find((p) => p.id === id)!.role === 'observer') return true;
    if (this.rejoined.size > 0) return false;
    const voters = sim.peers.filter((p) => p.role === 'participant').map((p) => p.id);
    const healthy = voters.filter((v) => v !== id && !this.waiting.has(v));
    if (healthy.length < Math.floor(voters.length / 2) + 1) {
      const first = Math.min(...voters.filter((v) => this.waiting.has(v)));
      return id === first && healthy.every((v) => sim.running(v));
    }
    const leader = sim.leaders()[0];
    if (leader === undefined || sim.leaders().length > 1) return false;
    const applied = sim.node(leader)!.lastAppliedZxid();
    return sim.peers.every((p) => {
      if (p.id === id || p.role === 'observer' || this.waiting.has(p.id)) return true;
      const n = sim.node(p.id);
      return n !== null && n.leaderId() === leader && sim.disk(p.id).lastZxid() >= applied;
    });
  }

  private serving(id: number): boolean {
    const r = this.sim.node(id)?.role();
    return r === 'leader' || r === 'follower' || r === 'observer';
  }
}
