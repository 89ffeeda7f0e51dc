// The README's usage example, verbatim between the region markers (barrier.test.ts checks both and runs it).
// #region readme
import { connect } from '@zabkit/client';
import { Barrier, DoubleBarrier } from '@zabkit/barrier';

await using zk = await connect(process.env.ZABKIT_SERVERS ?? '127.0.0.1:2181');

// Barrier: workers wait until the coordinator lets them go
const gate = new Barrier(zk, '/barriers/deploy');
await gate.set(); // coordinator
const released = gate.wait({ timeoutMs: 30_000 }); // workers, in any session
await gate.remove(); // coordinator: every waiter returns
await released;

// DoubleBarrier: 3 workers start a step together and finish it together
// (normally one per process; here three handles with distinct ids)
const log: string[] = [];
const workers = ['w1', 'w2', 'w3'].map((id) => new DoubleBarrier(zk, '/barriers/step-1', 3, { id }));
await Promise.all(
  workers.map(async (w) => {
    await w.enter({ timeoutMs: 30_000 }); // returns once all 3 have entered
    log.push(`${w.id} working`);
    await w.leave({ timeoutMs: 30_000 }); // returns once all 3 have left
  }),
);
// #endregion readme

export { log };
