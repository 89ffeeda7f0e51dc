import type { SystemName } from './systems/types.js';

export interface FigureDef {
  unit: string;
  better: 'higher' | 'lower';
  /** The target for zabkit, if it sets one for this row. */
  target?: { text: string; ok: (zabkit: number, zookeeper: number | null) => boolean | null };
}

const vsZk = (min: number) => (z: number, zk: number | null) => (zk === null ? null : z >= min * zk);
const atMost = (max: number) => (z: number) => z <= max;

/** Every row of the table, in order. `3n` = 3-node cluster, `1n` = single node, `c=N` = requests in flight. */
export const FIGURES: Record<string, FigureDef> = {
  '3n create c=1 ops/s': { unit: 'ops/s', better: 'higher' },
  '3n create c=1 p50': { unit: 'ms', better: 'lower' },
  '3n create c=1 p99': { unit: 'ms', better: 'lower' },
  '3n create c=64 ops/s': { unit: 'ops/s', better: 'higher', target: { text: '>= 2x ZooKeeper', ok: vsZk(2) } },
  '3n create c=64 p50': { unit: 'ms', better: 'lower' },
  '3n create c=64 p99': { unit: 'ms', better: 'lower' },
  '3n setData c=1 ops/s': { unit: 'ops/s', better: 'higher' },
  '3n setData c=1 p50': { unit: 'ms', better: 'lower', target: { text: '<= 0.5 ms', ok: atMost(0.5) } },
  '3n setData c=1 p99': { unit: 'ms', better: 'lower' },
  '3n setData c=64 ops/s': { unit: 'ops/s', better: 'higher', target: { text: '>= 2x ZooKeeper', ok: vsZk(2) } },
  '3n setData c=64 p50': { unit: 'ms', better: 'lower' },
  '3n setData c=64 p99': { unit: 'ms', better: 'lower' },
  '3n getData c=1 ops/s': { unit: 'ops/s', better: 'higher' },
  '3n getData c=1 p50': { unit: 'ms', better: 'lower' },
  '3n getData c=1 p99': { unit: 'ms', better: 'lower' },
  '3n getData c=64 ops/s': { unit: 'ops/s', better: 'higher', target: { text: '>= 1.5x ZooKeeper', ok: vsZk(1.5) } },
  '3n getData c=64 p50': { unit: 'ms', better: 'lower' },
  '3n getData c=64 p99': { unit: 'ms', better: 'lower' },
  '3n 90/10 mix c=64 ops/s': { unit: 'ops/s', better: 'higher' },
  '3n 90/10 mix c=64 p50': { unit: 'ms', better: 'lower' },
  '3n 90/10 mix c=64 p99': { unit: 'ms', better: 'lower' },
  '3n lock 8 contenders acq/s': { unit: 'acq/s', better: 'higher', target: { text: '>= 3x ZooKeeper', ok: vsZk(3) } },
  '3n lock handoff p50': { unit: 'ms', better: 'lower', target: { text: '<= 1 ms', ok: atMost(1) } },
  '3n lock handoff p99': { unit: 'ms', better: 'lower' },
  '3n failover (kill -9 leader -> first write)': { unit: 'ms', better: 'lower', target: { text: '<= 300 ms', ok: atMost(300) } },
  '3n RSS per server at rest (max)': { unit: 'MB', better: 'lower', target: { text: '<= 60 MB', ok: atMost(60) } },
  '3n RSS per server under write load (peak)': { unit: 'MB', better: 'lower', target: { text: '<= 150 MB', ok: atMost(150) } },
  '3n server CPU per 1000 writes (all servers)': { unit: 's', better: 'lower' },
  '1n setData c=1 ops/s': { unit: 'ops/s', better: 'higher' },
  '1n setData c=1 p50': { unit: 'ms', better: 'lower' },
  '1n setData c=64 ops/s': { unit: 'ops/s', better: 'higher' },
  '1n getData c=64 ops/s': { unit: 'ops/s', better: 'higher' },
  '1n RSS at rest': { unit: 'MB', better: 'lower' },
  '1n recovery: restart to first read': { unit: 'ms', better: 'lower' },
  /** 1M setData txns in the log (full run; --quick 20k), none in a snapshot; raw.json has the count. */
  '1n recovery (txn log): restart to first read': { unit: 'ms', better: 'lower' },
};

export interface Row {
  figure: string;
  unit: string;
  better: 'higher' | 'lower';
  zabkit: number | null;
  zookeeper: number | null;
  etcd: number | null;
}

export function bestPeer(r: Row): { system: SystemName; value: number } | null {
  const peers = (['zookeeper', 'etcd'] as const).filter((s) => r[s] !== null).map((s) => ({ system: s, value: r[s] as number }));
  if (peers.length === 0) return null;
  return peers.reduce((a, b) => ((r.better === 'higher' ? b.value > a.value : b.value < a.value) ? b : a));
}

export function ratio(r: Row): number | null {
  const best = bestPeer(r);
  if (r.zabkit === null || !best || best.value === 0) return null;
  return r.zabkit / best.value;
}

/** Whether zabkit leads the row (beats or ties every peer that ran). */
export function leads(r: Row): boolean | null {
  const x = ratio(r);
  if (x === null) return null;
  return r.better === 'higher' ? x >= 1 : x <= 1;
}
