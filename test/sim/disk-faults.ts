import type { Rng } from '../support/rng.js';
import type { SimDisk } from './sim-disk.js';

/** Ways a stopped server's data dir gets damaged (by hand, by a disk, by a bad cleanup script). */
export type DiskFault = 'loseSnapshots' | 'purgePrefix' | 'loseSegment' | 'loseEpochFile';
export const DISK_FAULTS: readonly DiskFault[] = ['loseSnapshots', 'purgePrefix', 'loseSegment', 'loseEpochFile'];

/** Damages `disk` as `kind` says; returns what was done, for the log. */
export function damageDisk(disk: SimDisk, kind: DiskFault, rng: Rng): string {
  switch (kind) {
    case 'loseSnapshots': {
      // Every snapshot gone (deleted, or all found corrupt); what autopurge removed of the log stays gone.
      const n = disk.snapshots.length;
      disk.snapshots = [];
      return `deleted ${n} snapshot(s)`;
    }
    case 'purgePrefix': {
      // The log prefix the newest snapshot covers is purged, then the snapshots are lost too.
      const newest = disk.snapshotZxid();
      let purged = 0;
      if (newest !== null) {
        while (disk.segments.length > 1 && disk.lastOf(disk.segments[0]!) <= newest) {
          disk.segments.shift();
          purged++;
        }
      }
      const n = disk.snapshots.length;
      disk.snapshots = [];
      return `purged ${purged} log segment(s) covered by the newest snapshot, then deleted ${n} snapshot(s)`;
    }
    case 'loseSegment': {
      if (disk.segments.length < 3) return `no middle segment to delete (${disk.segments.length} segment(s))`;
      const i = rng.int(1, disk.segments.length - 2);
      const [seg] = disk.segments.splice(i, 1);
      return `deleted log segment ${i} of ${disk.segments.length + 1} (${seg!.txns.length} txn(s))`;
    }
    case 'loseEpochFile': {
      const f = rng.pick(['acceptedEpoch', 'currentEpoch'] as const);
      disk.epochFiles[f] = false;
      return `deleted the ${f} file`;
    }
  }
}
