import type { Rng } from '../support/rng.js';
import type { SimCluster } from './sim-cluster.js';

export type FaultKind = 'crash' | 'crashLeader' | 'partition' | 'isolateLeader' | 'cutLink' | 'slowLink' | 'slowDisk';
const KINDS: readonly FaultKind[] = ['crash', 'crashLeader', 'partition', 'isolateLeader', 'cutLink', 'slowLink', 'slowDisk'];

export interface FaultPlan {
  /** Faults start at or after this sim time... */
  from: number;
  /** ...and are all injected (not necessarily healed) before this one. */
  until: number;
  count: number;
}

/**
 * Schedules `count` faults at seeded random times: crash + later restart of a
 * random server or of the current leader, partitions (random minority /
 * majority splits, or the leader alone) healed later, single link breaks, and
 * slow links (extra delay one way for a while, so messages on other links
 * overtake them; FIFO within the link still holds), and slow disks (a server's
 * fsyncs, hence its acks, come late for a while). Returns the kinds chosen.
 */
export function scheduleFaults(sim: SimCluster, rng: Rng, plan: FaultPlan): FaultKind[] {
  const kinds: FaultKind[] = [];
  let partitionToken = 0;
  for (let i = 0; i < plan.count; i++) {
    const at = rng.int(plan.from, plan.until);
    const kind = rng.pick(KINDS);
    kinds.push(kind);
    const heal = rng.int(200, 4_000);
    switch (kind) {
      case 'crash':
      case 'crashLeader':
        sim.schedule(at, () => {
          const leaders = sim.leaders();
          const running = sim.ids.filter((id) => sim.running(id));
          const victim = kind === 'crashLeader' && leaders.length > 0 ? rng.pick(leaders) : running.length > 0 ? rng.pick(running) : null;
          if (victim === null) return;
          sim.crash(victim);
          sim.schedule(sim.now + heal, () => {
            if (!sim.running(victim)) sim.start(victim);
          });
        });
        break;
      case 'partition':
      case 'isolateLeader':
        sim.schedule(at, () => {
          const ids = [...sim.ids];
          let groups: number[][];
          const leader = sim.leaders()[0];
          if (kind === 'isolateLeader' && leader !== undefined) {
            groups = [[leader], ids.filter((id) => id !== leader)];
          } else {
            for (let j = ids.length - 1; j > 0; j--) {
              const k = rng.int(0, j);
              [ids[j], ids[k]] = [ids[k]!, ids[j]!];
            }
            const cut = rng.int(1, ids.length - 1);
            groups = [ids.slice(0, cut), ids.slice(cut)];
          }
          const token = ++partitionToken;
          sim.setPartition(groups);
          sim.schedule(sim.now + heal, () => {
            if (token === partitionToken) sim.setPartition(null);
          });
        });
        break;
      case 'cutLink':
        sim.schedule(at, () => {
          const a = rng.pick(sim.ids);
          const others = sim.ids.filter((id) => id !== a);
          if (others.length > 0) sim.cutLink(a, rng.pick(others));
        });
        break;
      case 'slowLink':
        sim.schedule(at, () => {
          const a = rng.pick(sim.ids);
          const others = sim.ids.filter((id) => id !== a);
          if (others.length === 0) return;
          const key = `${a}>${rng.pick(others)}`;
          sim.slowLinks.set(key, rng.int(20, 400));
          sim.logs.push(`${sim.now} [sim] slow link ${key}`);
          sim.schedule(sim.now + heal, () => sim.slowLinks.delete(key));
        });
        break;
      case 'slowDisk':
        sim.schedule(at, () => {
          const id = rng.pick(sim.ids);
          sim.slowDisks.set(id, rng.int(20, 600));
          sim.logs.push(`${sim.now} [sim] slow disk ${id}`);
          sim.schedule(sim.now + heal, () => sim.slowDisks.delete(id));
        });
        break;
    }
  }
  return kinds;
}

/** Ends every fault: heals partitions and slow links, starts every crashed server. */
export function healAll(sim: SimCluster): void {
  sim.setPartition(null);
  sim.slowLinks.clear();
  sim.slowDisks.clear();
  for (const id of sim.ids) if (!sim.running(id)) sim.start(id);
}
