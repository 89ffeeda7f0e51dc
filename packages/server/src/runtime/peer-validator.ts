import { validatePeerMessage, type PeerMessage } from '@zabkit/protocol';
import type { ServerConfig } from './config.js';

/** The peer-message check for this ensemble (PeerNetworkOptions.validate): who may say what, in which ranges. */
export function peerValidator(config: ServerConfig): (from: number, msg: PeerMessage) => string | null {
  const serverIds = new Set(config.servers.map((s) => s.id));
  const voterIds = new Set(config.servers.filter((s) => s.role === 'participant').map((s) => s.id));
  const { maxDataBytes } = config;
  return (from, msg) => validatePeerMessage(msg, { serverIds, voterIds, maxDataBytes, from });
}
