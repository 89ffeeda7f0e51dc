import type { Rng } from '../support/rng.js';
import { DISK_FAULTS, damageDisk, type DiskFault } from './disk-faults.js';
import type { Operator } from './operator.js';
import type { SimCluster } from './sim-cluster.js';

export type FaultKind = 'crash' | 'crashLeader' | 'partition' | 'isolateLeader' | 'cutLink' | 'slowLink' | 'slowDisk' | DiskFault;
const KINDS: readonly FaultKind[] = ['crash', 'crashLeader', 'partition', 'isolateLeader', 'cutLink', 'slowLink', 'slowDisk'];

export interface FaultPlan {
  /** Faults start at or after this sim time... */
  from: number;
  /** ...and are all injected (not necessarily healed) before this one. */
  until: number;
  count: number;
  /** With an operator, disk faults join the mix (its restarts rejoin refused servers empty). */
  operator?: Operator;
}

/**
 * Schedules `count` faults at seeded random times: crash + later restart of a
 * random server or of the current leader, partitions (random minority /
 * majority splits, or the leader alone) healed later, single link breaks, and
 * slow links (extra delay one way for a while, so messages on other links
 * overtake them; FIFO within the link still holds), and slow disks (a server's
 * fsyncs, hence its acks, come late for a while). With an operator, also disk
 * faults on a server it crashes (see damageDisk: all snapshots lost, the log
 * prefix purged and then the snapshots lost, a middle segment deleted, an epoch
 * file deleted), one damaged server at a time; its restart goes through the
 * operator, which rejoins it empty when the start is refused. Returns the kinds chosen.
 */
export function scheduleFaults(sim: SimCluster, rng: Rng, plan: FaultPlan): FaultKind[] {
  const kinds: FaultKind[] = [];
  let partitionToken = 0;
  const op = plan.operator;
  const restart = (id: number) => (op ? op.start(id) : sim.running(id) || sim.start(id));
  const pool: readonly FaultKind[] = op ? [...KINDS, ...DISK_FAULTS] : KINDS;
  for (let i = 0; i < plan.count; i++) {
    const at = rng.int(plan.from, plan.until);
    const kind = rng.pick(pool);
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
          sim.schedule(sim.now + heal, () => restart(victim));
        });
        break;
      case 'loseSnapshots':
      case 'purgePrefix':
      case 'loseSegment':
      case 'loseEpochFile':
        sim.schedule(at, () => {
          const running = sim.ids.filter((id) => sim.running(id));
          if (!op || op.busy || running.length === 0) return;
          const victim = rng.pick(running);
          sim.crash(victim);
          op.damaged.add(victim);
          sim.logs.push(`${sim.now} [sim] ${kind} on ${victim}: ${damageDisk(sim.disk(victim), kind, rng)}`);
          sim.schedule(sim.now + heal, () => restart(victim));
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

/** Ends every fault: heals partitions and slow links, starts every crashed server (through the operator, if any). */
export function healAll(sim: SimCluster, operator?: Operator): void {
  sim.setPartition(null);
  sim.slowLinks.clear();
  sim.slowDisks.clear();
  for (const id of sim.ids) {
    if (operator) operator.start(id);
    else if (!sim.running(id)) sim.start(id);
  }
}
