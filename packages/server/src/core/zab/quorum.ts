/** Majority quorums over the voting servers (observers never count). */
export class Quorum {
  readonly voters: ReadonlySet<number>;
  readonly size: number;

  constructor(voterIds: readonly number[]) {
    this.voters = new Set(voterIds);
    this.size = Math.floor(this.voters.size / 2) + 1;
  }

  isVoter(id: number): boolean {
    return this.voters.has(id);
  }

  /** True when the voters among `ids` form a majority. */
  containsQuorum(ids: Iterable<number>): boolean {
    let n = 0;
    for (const id of new Set(ids)) if (this.voters.has(id)) n++;
    return n >= this.size;
  }

  /** True when a majority of voters have a mark at or past `zxid` (marks of non-voters never count). */
  reachedBy(marks: ReadonlyMap<number, bigint>, zxid: bigint): boolean {
    let n = 0;
    for (const id of this.voters) {
      const mark = marks.get(id);
      if (mark !== undefined && mark >= zxid && ++n >= this.size) return true;
    }
    return false;
  }
}
