import { hasCode, sortSequential, type CallOptions, type ZabClient } from '@zabkit/client';
import type { Participant } from './options.js';

export const LATCH_PREFIX = 'latch-';

/** Participants of the latch directory `path` in sequence order; the first is the leader. */
export async function readParticipants(client: ZabClient, path: string, opts: CallOptions = {}): Promise<Participant[]> {
  let children: string[];
  try {
    children = await client.getChildren(path, opts);
  } catch (err) {
    if (hasCode(err, 'NoNode')) return [];
    throw err;
  }
  const out: Participant[] = [];
  for (const name of sortSequential(children, LATCH_PREFIX)) {
    const node = `${path}/${name}`;
    try {
      const { data } = await client.getString(node, opts);
      out.push({ id: data ?? '', node, isLeader: out.length === 0 });
    } catch (err) {
      if (!hasCode(err, 'NoNode')) throw err; // left meanwhile
    }
  }
  return out;
}
