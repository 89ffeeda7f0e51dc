import { OpCode, type ErrorCode, type Request, type ResponseBody, type Zxid } from '@zabkit/protocol';
import { childNames, dataOf, statOf, type DataTree } from './data-tree.js';
import type { WatchEvent, WatchManager } from './watches.js';

/** The answer to a read: a body, or an error with a reason; plus events a setWatches fires at once. */
export interface ReadResult {
  body?: ResponseBody;
  err?: ErrorCode;
  message?: string;
  events?: WatchEvent[];
}

/**
 * Executes a read (exists / getData / getChildren / getEphemerals /
 * getAllChildrenNumber / setWatches) against the applied tree, leaving
 * watches behind as asked. A getData / getChildren on a missing node fails
 * with NoNode and leaves no watch; exists on a missing node leaves an exist watch.
 */
export function executeRead(tree: DataTree, watches: WatchManager, sessionId: bigint, req: Request): ReadResult {
  switch (req.op) {
    case OpCode.exists: {
      const node = tree.get(req.path);
      const kind = node ? 'data' : 'exist';
      if (req.watch && !watches.admits(sessionId, kind, req.path)) return tooManyWatches(watches, sessionId, 1);
      if (req.watch) watches.add(sessionId, kind, req.path);
      return { body: { stat: node ? statOf(node) : null } };
    }
    case OpCode.getData: {
      const node = tree.get(req.path);
      if (!node) return { err: 'NoNode', message: `no node ${req.path}` };
      if (req.watch && !watches.admits(sessionId, 'data', req.path)) return tooManyWatches(watches, sessionId, 1);
      if (req.watch) watches.add(sessionId, 'data', req.path);
      return { body: { data: dataOf(node), stat: statOf(node) } };
    }
    case OpCode.getChildren: {
      const node = tree.get(req.path);
      if (!node) return { err: 'NoNode', message: `no node ${req.path}` };
      if (req.watch && !watches.admits(sessionId, 'child', req.path)) return tooManyWatches(watches, sessionId, 1);
      if (req.watch) watches.add(sessionId, 'child', req.path);
      const children = childNames(node);
      return { body: req.withStat ? { children, stat: statOf(node) } : { children } };
    }
    case OpCode.getEphemerals:
      return { body: { paths: tree.ephemeralsOf(sessionId).filter((p) => p.startsWith(req.prefix)) } };
    case OpCode.getAllChildrenNumber: {
      if (!tree.get(req.path)) return { err: 'NoNode', message: `no node ${req.path}` };
      return { body: { count: tree.countDescendants(req.path) } };
    }
    case OpCode.setWatches: {
      // all or nothing: a client re-arming more than the cap learns it, rather than losing some silently
      const asked = req.dataWatches.length + req.existWatches.length + req.childWatches.length;
      if (watches.countOf(sessionId) + asked > watches.maxPerSession) return tooManyWatches(watches, sessionId, asked);
      return { body: {}, events: setWatches(tree, watches, sessionId, req.relativeZxid, req.dataWatches, req.existWatches, req.childWatches) };
    }
    default:
      return { err: 'BadArguments', message: `operation ${req.op} is not a read` };
  }
}

/**
 * The read is refused rather than answered without its watch: a client that silently lost a watch
 * would wait forever for an event. Reads without a watch keep working.
 */
function tooManyWatches(watches: WatchManager, sessionId: bigint, asked: number): ReadResult {
  return {
    err: 'TooManyWatches',
    message: `the session holds ${watches.countOf(sessionId)} watches and asked for ${asked} more; the limit (maxWatchesPerSession) is ${watches.maxPerSession}`,
  };
}

/**
 * Re-arms a reconnecting client's watches. Each one whose node changed after
 * `rel` fires at once instead (data: gone -> NodeDeleted, newer mzxid ->
 * NodeDataChanged; exist: now there -> NodeCreated; child: gone -> NodeDeleted,
 * newer pzxid -> NodeChildrenChanged); the others are registered.
 */
export function setWatches(
  tree: DataTree,
  watches: WatchManager,
  sessionId: bigint,
  rel: Zxid,
  dataWatches: readonly string[],
  existWatches: readonly string[],
  childWatches: readonly string[],
): WatchEvent[] {
  const events: WatchEvent[] = [];
  const fired = new Set<string>();
  const fire = (type: WatchEvent['type'], path: string): void => {
    const key = `${type}\u0000${path}`;
    if (fired.has(key)) return;
    fired.add(key);
    events.push({ sessionId, type, path });
  };
  for (const path of dataWatches) {
    const node = tree.get(path);
    if (!node) fire('NodeDeleted', path);
    else if (node.mzxid > rel) fire('NodeDataChanged', path);
    else watches.add(sessionId, 'data', path);
  }
  for (const path of existWatches) {
    const node = tree.get(path);
    if (node) fire('NodeCreated', path);
    else watches.add(sessionId, 'exist', path);
  }
  for (const path of childWatches) {
    const node = tree.get(path);
    if (!node) fire('NodeDeleted', path);
    else if (node.pzxid > rel) fire('NodeChildrenChanged', path);
    else watches.add(sessionId, 'child', path);
  }
  return events;
}
