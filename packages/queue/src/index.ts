export { FifoQueue, LOCK_SUFFIX } from './queue.js';
export { Lease, type LeaseState } from './lease.js';
export { jsonCodec, bytesCodec, stringCodec, type Codec } from './codec.js';
export type { FifoQueueOptions, TakeOptions } from './options.js';
