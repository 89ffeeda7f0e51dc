export type * from './api.js';
export { ZabNode, resolveZabOptions } from './zab-node.js';
export { FastLeaderElection, type ElectionOptions, type ElectionDecision } from './election.js';
export { CommittedLog } from './committed-log.js';
export { Quorum } from './quorum.js';
