export { Mutex } from './mutex.js';
export { ReadWriteLock } from './rwlock.js';
export { Semaphore } from './semaphore.js';
export { ReentrantLock } from './reentrant.js';
export type { AcquireOptions, Lease, LockOptions } from './options.js';
