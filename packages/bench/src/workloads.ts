import type { Cluster, KvClient } from './systems/types.js';
import { VALUE, cpuSeconds, now, percentile, rssMb, sleep, withTimeout } from './util.js';

export interface Timing {
  warmMs: number;
  windowMs: number;
  /** Hard cap on operations per measured window (keeps every workload bounded in count too). */
  maxOps: number;
}

export interface LoadResult {
  ops: number;
  opsPerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
  errors: number;
  firstError?: string;
}

/**
 * `workers` loops, each with one request in flight, for a warm-up then a fixed window. Only operations
 * that start inside the window count; ops/s = counted completions / window.
 */
export async function runLoad(workers: number, op: (w: number, i: number) => Promise<void>, t: Timing): Promise<LoadResult> {
  const start = now();
  const winStart = start + t.warmMs;
  const winEnd = winStart + t.windowMs;
  const lat: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let counted = 0;
  const loop = async (w: number) => {
    for (let i = 0; ; i++) {
      const s = now();
      if (s >= winEnd || counted >= t.maxOps) return;
      try {
        await op(w, i);
        const e = now();
        if (s >= winStart && e <= winEnd + 10_000) {
          lat.push(e - s);
          counted++;
        }
      } catch (err) {
        errors++;
        firstError ??= String((err as Error)?.message ?? err);
        await sleep(10);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, w) => loop(w)));
  const elapsed = Math.max(1, Math.min(now(), winEnd) - winStart);
  lat.sort((a, b) => a - b);
  return { ops: lat.length, opsPerSec: (lat.length * 1000) / elapsed, p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99), errors, ...(firstError ? { firstError } : {}) };
}

/** Samples RSS of every server while `fn` runs; returns fn's result and the peak RSS (MB) of any server. */
export async function withRssPeak<T>(cluster: Cluster, fn: () => Promise<T>): Promise<{ result: T; peakRssMb: number }> {
  let peak = 0;
  const sample = () => {
    for (const pid of cluster.pids()) peak = Math.max(peak, rssMb(pid) ?? 0);
  };
  const timer = setInterval(sample, 100);
  try {
    const result = await fn();
    sample();
    return { result, peakRssMb: peak };
  } finally {
    clearInterval(timer);
  }
}

export function serverCpu(cluster: Cluster): number {
  return cluster.pids().reduce<number>((s, pid) => s + (cpuSeconds(pid) ?? 0), 0);
}

export interface LockResult {
  acquisitions: number;
  acqPerSec: number;
  handoffP50Ms: number | null;
  handoffP99Ms: number | null;
  errors: number;
  firstError?: string;
}

/**
 * `contenders` clients loop acquire -> release (hold time 0). Handoff = time from the moment a holder
 * issues release to the moment the next holder's acquire resolves.
 */
export async function runLock(clients: KvClient[], path: string, t: Timing): Promise<LockResult> {
  const locks = await Promise.all(clients.map((c) => c.lock(path)));
  const start = now();
  const winStart = start + t.warmMs;
  const winEnd = winStart + t.windowMs;
  let lastRelease: number | null = null;
  const handoffs: number[] = [];
  let acquisitions = 0;
  let errors = 0;
  let firstError: string | undefined;
  const loop = async (l: (typeof locks)[number]) => {
    while (now() < winEnd && acquisitions < t.maxOps) {
      try {
        const release = await withTimeout(l.acquire(), 30_000, 'lock acquire');
        const got = now();
        if (got >= winStart && got <= winEnd) {
          acquisitions++;
          if (lastRelease !== null && lastRelease >= winStart) handoffs.push(got - lastRelease);
        }
        lastRelease = now();
        await release();
      } catch (err) {
        errors++;
        firstError ??= String((err as Error)?.message ?? err);
        await sleep(50);
      }
    }
  };
  await Promise.all(locks.map(loop));
  await Promise.all(locks.map((l) => l.close().catch(() => {})));
  handoffs.sort((a, b) => a - b);
  return {
    acquisitions,
    acqPerSec: (acquisitions * 1000) / t.windowMs,
    handoffP50Ms: percentile(handoffs, 50),
    handoffP99Ms: percentile(handoffs, 99),
    errors,
    ...(firstError ? { firstError } : {}),
  };
}

/**
 * kill -9 of the leader while a client writes; returns ms from the kill until the first write issued
 * after the kill succeeds. The writer talks to the surviving nodes only, so the figure is the cluster's
 * failover (detection + election + sync), not a client's reconnect backoff.
 */
export async function runFailover(cluster: Cluster, key: string): Promise<{ ms: number; leader: number }> {
  const leader = await cluster.leader();
  const survivors = Array.from({ length: cluster.size }, (_, i) => i).filter((i) => i !== leader);
  const client = await cluster.connect(survivors);
  try {
    // steady writes before the kill
    let stop = false;
    const background = (async () => {
      while (!stop) await client.set(key, VALUE).catch(() => sleep(5));
    })();
    await sleep(300);
    const killed = cluster.kill(leader);
    const t0 = now();
    await killed;
    let done: number | null = null;
    let resolveDone!: () => void;
    const doneP = new Promise<void>((r) => (resolveDone = r));
    const deadline = t0 + 30_000;
    while (done === null && now() < deadline) {
      const attempt = client.set(key, VALUE).then(
        () => {
          if (done === null) {
            done = now();
            resolveDone();
          }
        },
        () => sleep(10),
      );
      await Promise.race([attempt, sleep(500), doneP]);
    }
    stop = true;
    await Promise.race([background, sleep(2_000)]);
    if (done === null) throw new Error('no write succeeded within 30 s of the leader kill');
    return { ms: (done as number) - t0, leader };
  } finally {
    await client.close().catch(() => {});
  }
}
