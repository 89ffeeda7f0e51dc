export { Barrier } from './barrier.js';
export { DoubleBarrier, READY_NODE } from './double-barrier.js';
export type { DoubleBarrierOptions, WaitOptions } from './options.js';
