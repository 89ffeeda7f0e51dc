import { spawn, execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { basename, join, relative } from 'node:path';

/** `count` distinct free ports on 127.0.0.1: the CLI's, which holds them all open until every one is picked. */
export { freePorts } from 'zabkit';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const now = () => performance.now();

/** 100-byte values, the same bytes for every system. */
export const VALUE = Buffer.alloc(100, 0x61);

export function percentile(sorted: ArrayLike<number>, p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function median(xs: (number | null | undefined)[]): number | null {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

let clkTck = 0;
function ticksPerSecond(): number {
  if (!clkTck) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** VmRSS of `pid` in MB (null if it is gone). */
export function rssMb(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** utime + stime of `pid` in seconds (null if it is gone). */
export function cpuSeconds(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is state (field 3); utime is field 14, stime field 15
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return null;
  }
}

/** Every process this run spawned, so that a crash or ^C never leaves one behind. */
const children = new Set<ChildProcess>();
export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  children.add(child);
  child.once('exit', () => children.delete(child));
  // drain output so a chatty server never blocks on a full pipe
  child.stdout?.on('data', () => {});
  child.stderr?.on('data', () => {});
  return child;
}
/** pid sources of processes spawned by others on our behalf (zabkit's LocalCluster). */
const pidSources = new Set<() => (number | undefined)[]>();
export function trackPids(src: () => (number | undefined)[]): () => void {
  pidSources.add(src);
  return () => pidSources.delete(src);
}
export function killAllTracked(): void {
  for (const src of pidSources) {
    for (const pid of src()) {
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  for (const c of children) if (c.pid && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

export async function killAndWait(child: ChildProcess | null | undefined, sig: NodeJS.Signals = 'SIGKILL', timeoutMs = 10_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(sig);
  const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(t);
}

/** Polls `fn` every `everyMs` until it returns a truthy value; rejects after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    await sleep(everyMs);
  }
}


/** Sends a ZooKeeper four-letter word and returns the answer. */
export function fourLetter(port: number, cmd: string, timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let out = '';
    const t = setTimeout(() => {
      sock.destroy();
      reject(new Error('4lw timeout'));
    }, timeoutMs);
    sock.on('connect', () => sock.write(cmd));
    sock.on('data', (d) => (out += d.toString()));
    sock.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(t);
      resolve(out);
    });
  });
}

export function withTimeout<T>(p: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Replaces `dst` with a copy of directory `src`, every file fsynced (so no writeback lands on a later measurement). */
export async function copyDirDurably(src: string, dst: string): Promise<void> {
  await rm(dst, { recursive: true, force: true });
  await mkdir(dst, { mode: (await stat(src)).mode & 0o777 });
  for (const e of await readdir(src, { withFileTypes: true })) {
    const from = join(src, e.name);
    const to = join(dst, e.name);
    if (e.isDirectory()) await copyDirDurably(from, to);
    else if (e.isFile()) {
      await copyFile(from, to);
      const fh = await open(to, 'r+');
      try {
        await fh.datasync();
      } finally {
        await fh.close();
      }
    }
  }
}

export interface FileSize {
  /** Relative to the directory looked at. */
  path: string;
  bytes: number;
}

export interface LogFootprint {
  /** Txn log segments / WAL files (preallocated by ZooKeeper and etcd: their size is not the bytes used). */
  log: FileSize[];
  logBytes: number;
  snapshots: FileSize[];
  /** Other files of 1 MB or more (etcd's bbolt db, its preallocated next WAL file). */
  other: FileSize[];
}

/** Txn log / WAL files and snapshot files under a node's data dir (zabkit and ZooKeeper `log.*`/`snapshot.*`, etcd `*.wal`/`*.snap`). */
export async function logFootprint(dir: string): Promise<LogFootprint> {
  const log: FileSize[] = [];
  const snapshots: FileSize[] = [];
  const other: FileSize[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      if (!e.isFile()) continue;
      const f = { path: relative(dir, p), bytes: (await stat(p)).size };
      const name = basename(p);
      if (/^log\.[0-9a-f]+$/.test(name) || name.endsWith('.wal')) log.push(f);
      else if (/^snapshot\.[0-9a-f]+$/.test(name) || name.endsWith('.snap')) snapshots.push(f);
      else if (f.bytes >= 1 << 20) other.push(f);
    }
  };
  await walk(dir);
  const byPath = (a: FileSize, b: FileSize) => a.path.localeCompare(b.path);
  return { log: log.sort(byPath), logBytes: log.reduce((n, f) => n + f.bytes, 0), snapshots: snapshots.sort(byPath), other: other.sort(byPath) };
}
