import { waitForDeletion, zabError, type DataInput, type ZabClient } from '@zabkit/client';
import { reasonOr } from './async.js';
import { createOwnNode, dropNode, removeNode, retrying, type OwnNode } from './node.js';

/** Whether the node at `index` of the sorted queue holds, or which earlier node it must wait for. */
export type Verdict = { hold: true } | { hold: false; watch: string };

export interface QueueSpec {
  dir: string;
  /** Name prefix of our node, e.g. `lock-`, `read-`, `write-`. */
  prefix: string;
  data: DataInput;
  /** The contenders in queue order (sequence), filtered to the kinds that matter. */
  sort(children: string[]): string[];
  /**
   * Must depend only on the nodes before `index`, and removing any of them must never turn a
   * hold into a wait (enterQueue's fast path after a deletion relies on it).
   */
  verdict(sorted: readonly string[], index: number): Verdict;
}

/**
 * Joins the queue and waits until `verdict` says we hold, watching only the
 * node it names (no herd). With `wait` false, gives up at once (null). On any
 * failure the node is deleted so it cannot block anybody.
 */
export async function enterQueue(client: ZabClient, spec: QueueSpec, signal: AbortSignal, wait: boolean): Promise<OwnNode | null> {
  const own = await createOwnNode(client, spec.dir, spec.prefix, spec.data, signal);
  try {
    for (;;) {
      const children = await retrying(signal, () => client.getChildren(spec.dir, { signal }));
      const sorted = spec.sort(children);
      const index = sorted.indexOf(own.name);
      if (index === -1) throw zabError('NoNode', `lock node ${own.path} disappeared while waiting`, { path: own.path });
      const v = spec.verdict(sorted, index);
      if (v.hold) return own;
      if (!wait) {
        await removeNode(client, own.path);
        return null;
      }
      await waitForDeletion(client, `${spec.dir}/${v.watch}`, { signal });
      // Fast path: no node can join *ahead* of ours (sequence numbers only grow while our node keeps
      // the directory alive), so the list we read minus the deleted node still holds every node
      // before us, and maybe some already gone. A verdict of hold on it is a hold in fact; anything
      // else needs a fresh read.
      const rest = sorted.filter((name) => name !== v.watch);
      if (spec.verdict(rest, rest.indexOf(own.name)).hold) return own;
    }
  } catch (err) {
    await dropNode(client, own.path);
    throw reasonOr(signal, err);
  }
}

/** Mutex-style verdict: hold when first, else wait for the immediate predecessor. */
export function firstInLine(sorted: readonly string[], index: number): Verdict {
  return index === 0 ? { hold: true } : { hold: false, watch: sorted[index - 1]! };
}
