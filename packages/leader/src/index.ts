export { LeaderLatch } from './latch.js';
export { LeaderElection, type LeaderElectionEvents, type LeaderElectionOptions } from './election.js';
export { readParticipants } from './participants.js';
export type { CloseOptions, LeaderLatchEvents, LeaderLatchOptions, LeaderTerm, Participant } from './options.js';
