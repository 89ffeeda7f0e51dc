export * from './core/index.js';
export * from './storage/index.js';
export { startServer, runServer, type StartServerOptions, type RunServerOptions } from './runtime/start-server.js';
export type { StartedServer } from './runtime/cluster-server.js';
export { IncompleteHistoryError } from './runtime/history-guard.js';
export {
  parseConfig,
  loadConfig,
  configFromObject,
  ConfigError,
  type ServerConfig,
  type ServerEntry,
  type PeerRole,
  type ParsedConfig,
  type ConfigInput,
} from './runtime/config.js';
export { PEER_AUTH_KEYS, PeerAuthError, type PeerAuthConfig } from './runtime/peer-auth-config.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from './runtime/logger.js';
export { VERSION } from './runtime/version.js';
