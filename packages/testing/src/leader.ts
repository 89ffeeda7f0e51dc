import { getServerStatus, type ServerStatus } from '@zabkit/client';

/**
 * Polls every 100 ms until exactly one of `candidates` reports it leads (role leader or standalone)
 * with at least `minFollowers` synced learners; resolves with its id.
 */
export async function pollForLeader(
  candidates: () => Array<{ id: number; address: string }>,
  opts: { timeoutMs?: number; exclude?: number[]; minFollowers?: number } = {},
): Promise<number> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const nodes = candidates();
    const statuses = await Promise.all(
      nodes.map(async (n): Promise<[number, ServerStatus | null]> => {
        try {
          return [n.id, await getServerStatus(n.address, { timeoutMs: 1_000 })];
        } catch {
          return [n.id, null];
        }
      }),
    );
    const leaders = statuses.filter(
      ([id, s]) =>
        s !== null &&
        !opts.exclude?.includes(id) &&
        (s.role === 'leader' || s.role === 'standalone') &&
        (s.followers?.length ?? 0) >= (opts.minFollowers ?? 0),
    );
    if (leaders.length === 1) return leaders[0]![0];
    last = statuses.map(([id, s]) => `${id}:${s ? s.role : 'down'}`).join(' ');
    if (Date.now() >= deadline) throw new Error(`no single leader within ${timeoutMs} ms (last seen: ${last || 'no nodes'})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The node with this id (throws for an unknown id). */
export function nodeById<N extends { id: number }>(nodes: readonly N[], id: number): N {
  const n = nodes.find((x) => x.id === id);
  if (!n) throw new Error(`no node ${id}`);
  return n;
}

/** Waits until exactly one running, unpaused node leads; resolves with it. */
export async function waitForLeaderAmong<N extends { id: number; address: string; isRunning(): boolean; isPaused(): boolean }>(
  nodes: readonly N[],
  opts: { timeoutMs?: number; exclude?: number[]; minFollowers?: number } = {},
): Promise<N> {
  const id = await pollForLeader(() => nodes.filter((n) => n.isRunning() && !n.isPaused()), opts);
  return nodeById(nodes, id);
}
