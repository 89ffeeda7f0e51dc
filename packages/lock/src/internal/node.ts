import { randomUUID } from 'node:crypto';
import {
  PROTECTED_PREFIX,
  createProtectedWithStat,
  hasCode,
  isRetryable,
  mkdirp,
  removeNode,
  settleBriefly,
  zabError,
  type DataInput,
  type Stat,
  type ZabClient,
} from '@zabkit/client';
import { reasonOr, sleep } from './async.js';

export { removeNode };

export interface OwnNode {
  /** Full path. */
  path: string;
  /** Name within the directory. */
  name: string;
  stat: Stat;
}

const gone = (c: ZabClient): boolean => c.state === 'expired' || c.state === 'closed';

/** Retries a read on retryable errors (the client waits for reconnection) until `signal` aborts. */
export async function retrying<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (signal.aborted || !isRetryable(err)) throw reasonOr(signal, err);
      await sleep(Math.min(500, 20 * 2 ** attempt), signal);
    }
  }
}

/**
 * Creates `<dir>/_c_<guid>-<prefix><seq>` (ephemeral-sequential) with the shared
 * GUID-protected create, then checks the node is really this session's. If the
 * create fails with an unknown outcome (aborted, gave up), a background
 * clean-up finds the node by its GUID and deletes it so it cannot block others.
 */
export async function createOwnNode(client: ZabClient, dir: string, prefix: string, data: DataInput, signal: AbortSignal): Promise<OwnNode> {
  const guid = randomUUID();
  let path: string;
  let created: Stat | null;
  try {
    try {
      ({ path, stat: created } = await createProtectedWithStat(client, `${dir}/${prefix}`, data, 'ephemeral-sequential', { signal, guid }));
    } catch (err) {
      if (!hasCode(err, 'NoNode')) throw err;
      await mkdirp(client, dir, { signal });
      ({ path, stat: created } = await createProtectedWithStat(client, `${dir}/${prefix}`, data, 'ephemeral-sequential', { signal, guid }));
    }
  } catch (err) {
    await settleBriefly(cleanupGuid(client, dir, guid));
    throw reasonOr(signal, err);
  }
  try {
    // A create this call made answers with its Stat; a node found by its GUID after a lost reply is read.
    const stat = created ?? (await retrying(signal, () => client.exists(path, { signal })));
    // Our GUID and our session: a node left by an earlier session can never match both.
    if (stat === null || stat.ephemeralOwner !== client.sessionId) {
      throw zabError('SessionExpired', `lock node ${path} is gone or not owned by session 0x${client.sessionId.toString(16)}`, { path });
    }
    return { path, name: path.slice(dir.length + 1), stat };
  } catch (err) {
    await dropNode(client, path);
    throw reasonOr(signal, err);
  }
}

/**
 * Deletes a node we give up on. Waits up to a second, so that normally a
 * rejected call leaves nothing behind; when disconnected the retries go on in
 * the background until the node is gone or the session ends.
 */
export async function dropNode(client: ZabClient, path: string): Promise<void> {
  await settleBriefly(removeNode(client, path));
}

/** Finds and deletes the node(s) a failed protected create with `guid` may have left in `dir`. */
export async function cleanupGuid(client: ZabClient, dir: string, guid: string, attempts = 20): Promise<void> {
  const mark = `${PROTECTED_PREFIX}${guid}-`;
  for (let i = 0; i < attempts; i++) {
    if (gone(client)) return;
    try {
      const children = await client.getChildren(dir);
      for (const c of children) if (c.startsWith(mark)) await removeNode(client, `${dir}/${c}`);
      return;
    } catch (err) {
      if (hasCode(err, 'NoNode') || !isRetryable(err)) return;
      await sleep(Math.min(1000, 50 * 2 ** i));
    }
  }
}
