import { makeZxid, type Zxid } from '@zabkit/protocol';
import { describe, expect, it } from 'vitest';
import { voteBeats, type Vote } from '../../src/core/zab/election.js';
import { Cluster, recipients, single, vote } from './election-harness.js';

describe('vote order', () => {
  it('peerEpoch dominates zxid, zxid dominates sid, sid breaks ties', () => {
    const v = (leader: number, zxid: Zxid, peerEpoch: number): Vote => ({ leader, zxid, peerEpoch });
    expect(voteBeats(v(1, makeZxid(1, 1), 2), v(5, makeZxid(1, 900), 1))).toBe(true);
    expect(voteBeats(v(5, makeZxid(1, 900), 1), v(1, makeZxid(1, 1), 2))).toBe(false);
    expect(voteBeats(v(1, makeZxid(1, 102), 1), v(5, makeZxid(1, 101), 1))).toBe(true);
    expect(voteBeats(v(3, 7n, 1), v(2, 7n, 1))).toBe(true);
    expect(voteBeats(v(2, 7n, 1), v(3, 7n, 1))).toBe(false);
    expect(voteBeats(v(3, 7n, 1), v(3, 7n, 1))).toBe(false);
  });
});

describe('fresh ensemble started in order', () => {
  it('server 3 wins once three of five are up; 4 and 5 then follow it without a new election', () => {
    const c = new Cluster({ voters: [1, 2, 3, 4, 5], finalizeWaitTicks: 1 });
    c.start(1);
    c.pump();
    c.start(2);
    c.pump();
    c.tick(10);
    expect(c.decided(1) + c.decided(2)).toBe(0); // two of five is no quorum
    c.start(3);
    c.runUntilDecided([1, 2, 3]);
    expect(c.last(3)).toMatchObject({ leader: 3, state: 'LEADING' });
    expect(c.last(1)).toMatchObject({ leader: 3, state: 'FOLLOWING' });
    expect(c.last(2)).toMatchObject({ leader: 3, state: 'FOLLOWING' });
    const round = c.last(3)?.electionEpoch;
    expect(c.last(1)?.electionEpoch).toBe(round);

    c.start(4);
    c.pump();
    expect(c.last(4)).toMatchObject({ leader: 3, state: 'FOLLOWING', electionEpoch: round });
    c.start(5);
    c.pump();
    expect(c.last(5)).toMatchObject({ leader: 3, state: 'FOLLOWING', electionEpoch: round });
    // Nobody re-elected: the first three decided exactly once and keep their state.
    expect([1, 2, 3].map((id) => c.decided(id))).toEqual([1, 1, 1]);
    expect([1, 2, 3, 4, 5].map((id) => c.node(id).state)).toEqual(['FOLLOWING', 'FOLLOWING', 'LEADING', 'FOLLOWING', 'FOLLOWING']);
    // The settled servers answered 4 and 5 with their established state.
    const answers = c.log.filter((e) => e.to === 5 && e.msg.state !== 'LOOKING').map((e) => [e.from, e.msg.state]);
    expect(answers).toEqual(expect.arrayContaining([[3, 'LEADING'], [1, 'FOLLOWING'], [2, 'FOLLOWING'], [4, 'FOLLOWING']]));
  });
});

describe('after a leader crash', () => {
  it('the survivor with the highest zxid wins', () => {
    const c = new Cluster({ voters: [1, 2, 3, 4, 5], finalizeWaitTicks: 1 });
    const zxids = new Map([[1, 99], [2, 102], [3, 100], [4, 101]]);
    for (const [id, z] of zxids) c.start(id, makeZxid(1, z), 1);
    c.runUntilDecided([1, 2, 3, 4]);
    expect(c.last(2)).toMatchObject({ leader: 2, state: 'LEADING', vote: { leader: 2, zxid: makeZxid(1, 102), peerEpoch: 1 } });
    for (const id of [1, 3, 4]) expect(c.last(id)).toMatchObject({ leader: 2, state: 'FOLLOWING' });
  });

  it('a higher currentEpoch beats a higher zxid', () => {
    const c = new Cluster({ voters: [1, 2, 3] });
    c.start(1, makeZxid(1, 5), 2); // synced with epoch 2 but logged little under it
    c.start(2, makeZxid(1, 50), 1);
    c.start(3, makeZxid(1, 40), 1);
    c.runUntilDecided([1, 2, 3]);
    for (const id of [1, 2, 3]) expect(c.last(id)?.leader).toBe(1);
    expect(c.last(1)?.state).toBe('LEADING');
  });

  it('with equal zxids and epochs the highest sid wins', () => {
    const c = new Cluster({ voters: [1, 2, 3, 4, 5] });
    for (const id of [5, 1, 3, 2]) c.start(id, makeZxid(2, 7), 2);
    c.runUntilDecided([1, 2, 3, 5]);
    for (const id of [1, 2, 3]) expect(c.last(id)).toMatchObject({ leader: 5, state: 'FOLLOWING' });
    expect(c.last(5)?.state).toBe('LEADING');
  });
});

describe('election rounds and the finalize wait', () => {
  it('adopts a higher round, clears old votes and keeps the better of its own and the peer vote', () => {
    const e = single(2, [1, 2, 3]);
    e.lookForLeader({ zxid: 10n, currentEpoch: 1 });
    e.takeMessages();
    e.receive(3, vote(3, 5n, 1, 1)); // same round, worse than our own: recorded, not adopted
    expect(e.currentVote()).toEqual({ leader: 2, zxid: 10n, peerEpoch: 1 });

    e.receive(1, vote(1, 4n, 1, 4)); // higher round, worse vote
    expect(e.logicalClock).toBe(4);
    expect(e.currentVote()).toEqual({ leader: 2, zxid: 10n, peerEpoch: 1 });
    const out = e.takeMessages();
    expect(recipients(out)).toEqual([1, 3]);
    for (const m of out) expect(m.msg).toMatchObject({ leader: 2, zxid: 10n, electionEpoch: 4, state: 'LOOKING' });
    expect(e.takeDecision()).toBeNull(); // 3's round-1 vote was cleared, so no quorum yet

    e.receive(3, vote(3, 20n, 1, 9)); // higher round, better vote
    expect(e.logicalClock).toBe(9);
    expect(e.currentVote()).toEqual({ leader: 3, zxid: 20n, peerEpoch: 1 });
    // 3 and we agree in round 9: a quorum of three, decided at once (finalizeWaitTicks 0)
    expect(e.takeDecision()).toEqual({ leader: 3, state: 'FOLLOWING', vote: { leader: 3, zxid: 20n, peerEpoch: 1 }, electionEpoch: 9 });
  });

  it('votes from an older round stop counting once a higher round is adopted', () => {
    const e = single(2, [1, 2, 3], [], 2);
    e.lookForLeader({ zxid: 10n, currentEpoch: 1 });
    e.receive(3, vote(2, 10n, 1, 1)); // 3 agrees in round 1: quorum, finalize wait starts
    e.receive(1, vote(1, 4n, 1, 4)); // round 4 begins; our vote stays (2, 10)
    expect(e.currentVote()).toEqual({ leader: 2, zxid: 10n, peerEpoch: 1 });
    for (let t = 0; t < 10; t++) e.tick();
    expect(e.takeDecision()).toBeNull();
    e.receive(3, vote(2, 10n, 1, 4));
    e.tick();
    e.tick();
    expect(e.takeDecision()).toMatchObject({ leader: 2, state: 'LEADING', electionEpoch: 4 });
  });

  it('needs a strict majority: two of four voters are not enough', () => {
    const e = single(1, [1, 2, 3, 4]);
    e.lookForLeader({ zxid: 0n, currentEpoch: 0 });
    e.receive(2, vote(2, 0n, 0, 1));
    expect(e.takeDecision()).toBeNull();
    e.receive(3, vote(2, 0n, 0, 1));
    expect(e.takeDecision()).toMatchObject({ leader: 2, state: 'FOLLOWING' });
  });

  it('answers a lower round without counting it', () => {
    const e = single(1, [1, 2, 3]);
    for (let i = 0; i < 3; i++) e.lookForLeader({ zxid: 10n, currentEpoch: 1 });
    e.takeMessages();
    e.receive(2, vote(1, 10n, 1, 1)); // agrees with us, but from round 1
    expect(e.takeDecision()).toBeNull();
    expect(e.logicalClock).toBe(3);
    expect(e.takeMessages()).toEqual([{ to: 2, msg: vote(1, 10n, 1, 3, 'LOOKING') }]);
    e.receive(2, vote(1, 10n, 1, 3)); // the same vote in our round counts
    expect(e.takeDecision()).toMatchObject({ leader: 1, state: 'LEADING', electionEpoch: 3 });
  });

  it('decides after exactly finalizeWaitTicks when nothing better arrives', () => {
    const e = single(1, [1, 2, 3], [], 3);
    e.lookForLeader({ zxid: 10n, currentEpoch: 1 });
    e.receive(2, vote(1, 10n, 1, 1));
    expect(e.takeDecision()).toBeNull();
    e.tick();
    e.tick();
    expect(e.takeDecision()).toBeNull();
    e.tick();
    expect(e.takeDecision()).toMatchObject({ leader: 1, state: 'LEADING' });
  });

  it('a better vote arriving during the finalize wait wins', () => {
    const c = new Cluster({ voters: [1, 2, 3], finalizeWaitTicks: 2 });
    c.start(1);
    c.start(2);
    c.pump(); // 1 and 2 agree on 2: a quorum, now waiting
    expect(c.decided(1) + c.decided(2)).toBe(0);
    c.tick(); // one of two ticks
    expect(c.decided(1) + c.decided(2)).toBe(0);
    c.start(3); // late but better
    c.runUntilDecided([1, 2, 3]);
    expect(c.last(3)).toMatchObject({ leader: 3, state: 'LEADING' });
    expect(c.last(1)?.leader).toBe(3);
    expect(c.last(2)).toMatchObject({ leader: 3, state: 'FOLLOWING' });
    expect(c.decided(2)).toBe(1);
  });

  it('with finalizeWaitTicks 0 the first quorum decides and the late server follows it', () => {
    const c = new Cluster({ voters: [1, 2, 3], finalizeWaitTicks: 0 });
    c.start(1);
    c.start(2);
    c.pump();
    expect(c.last(2)).toMatchObject({ leader: 2, state: 'LEADING' });
    expect(c.last(1)).toMatchObject({ leader: 2, state: 'FOLLOWING' });
    c.start(3);
    c.pump();
    expect(c.last(3)).toMatchObject({ leader: 2, state: 'FOLLOWING' });
    expect(c.decided(2)).toBe(1);
  });
});

describe('resend backoff', () => {
  it('resends to silent voters at 1, 2, 4 ... ticks, capped at maxBackoffTicks, and resets with a new round', () => {
    const e = single(1, [1, 2, 3], [4], 0, 4);
    e.lookForLeader({ zxid: 0n, currentEpoch: 0 });
    expect(recipients(e.takeMessages())).toEqual([2, 3, 4]); // the first notification reaches observers too
    const resendTicks: number[] = [];
    for (let t = 1; t <= 20; t++) {
      e.tick();
      const out = e.takeMessages();
      if (out.length > 0) {
        expect(recipients(out)).toEqual([2, 3]); // observers never answer, so resends skip them
        for (const m of out) expect(m.msg).toEqual(vote(1, 0n, 0, 1));
        resendTicks.push(t);
      }
    }
    expect(resendTicks).toEqual([1, 3, 7, 11, 15, 19]);
    expect(e.takeDecision()).toBeNull();

    e.lookForLeader({ zxid: 0n, currentEpoch: 0 });
    expect(e.takeMessages()).toHaveLength(3);
    const again: number[] = [];
    for (let t = 1; t <= 8; t++) {
      e.tick();
      if (e.takeMessages().length > 0) again.push(t);
    }
    expect(again).toEqual([1, 3, 7]);
  });

  it('keeps asking voters that agreed (they may decide silently) and stops once decided', () => {
    const f = single(1, [1, 2, 3, 4, 5], [6], 0, 4);
    f.lookForLeader({ zxid: 0n, currentEpoch: 0 });
    f.takeMessages();
    f.receive(5, vote(5, 0n, 0, 1)); // better: adopted and sent to everyone
    expect(recipients(f.takeMessages())).toEqual([2, 3, 4, 5, 6]);
    f.tick();
    expect(recipients(f.takeMessages())).toEqual([2, 3, 4, 5]);
    // 5 had decided meanwhile: asked again, it answers LEADING, and with two followers we join.
    f.receive(5, vote(5, 0n, 0, 1, 'LEADING'));
    f.receive(4, vote(5, 0n, 0, 1, 'FOLLOWING'));
    expect(f.takeDecision()).toMatchObject({ leader: 5, state: 'FOLLOWING' });
    for (let t = 0; t < 10; t++) f.tick();
    expect(f.takeMessages()).toEqual([]); // decided: no more resends
  });

  it('a higher round adopted from a peer resets the backoff', () => {
    const e = single(1, [1, 2, 3, 4, 5], [], 0, 8);
    e.lookForLeader({ zxid: 0n, currentEpoch: 0 });
    const before: number[] = [];
    for (let t = 1; t <= 10; t++) {
      e.tick();
      if (e.takeMessages().length > 0) before.push(t);
    }
    expect(before).toEqual([1, 3, 7]); // next one would come at 15
    e.receive(2, vote(2, 0n, 0, 5));
    expect(e.logicalClock).toBe(5);
    expect(recipients(e.takeMessages())).toEqual([2, 3, 4, 5]);
    const after: number[] = [];
    for (let t = 1; t <= 4; t++) {
      e.tick();
      const out = e.takeMessages();
      if (out.length > 0) after.push(t);
      for (const m of out) expect(m.msg).toEqual(vote(2, 0n, 0, 5));
    }
    expect(after).toEqual([1, 3]);
  });
});
