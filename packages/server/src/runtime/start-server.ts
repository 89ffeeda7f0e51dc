import { configFromObject, type ServerConfig } from './config.js';
import { createLogger, silentLogger, type Logger } from './logger.js';
import { ClusterServer, type StartedServer } from './cluster-server.js';

export interface StartServerOptions extends Partial<ServerConfig> {
  /** Where snapshots, epochs and (by default) the log live. Required. */
  dataDir: string;
  /** Log lines to stderr (default) or pass `false` / a Logger. */
  logger?: Logger | false;
  /** See RunServerOptions.rejoinEmpty. Default false. */
  rejoinEmpty?: boolean;
}

/**
 * Starts a zabkit server in this process. With no `servers` (or only its
 * own entry) it is a cluster of one; with `server.N` entries it joins the ensemble. `clientPort: 0` binds a free port; read it from `.port`.
 *
 * @example
 * const server = await startServer({ dataDir: '/tmp/zk1', clientPort: 0 });
 * const client = await connect(server.connectString);
 */
export async function startServer(options: StartServerOptions): Promise<StartedServer> {
  const { logger: loggerOpt, rejoinEmpty, ...partial } = options;
  const { config, warnings } = configFromObject(partial);
  const logger = loggerOpt === false ? silentLogger : (loggerOpt ?? createLogger(`server.${config.myid}`));
  for (const w of warnings) logger.warn(w);
  return runServer(config, logger, { rejoinEmpty: rejoinEmpty ?? false });
}

export interface RunServerOptions {
  /**
   * Stops startup (a SIGTERM during a long log recovery): recovery ends at the next segment, what was
   * opened is closed, and runServer rejects with the signal's reason. Nothing on disk is lost.
   */
  signal?: AbortSignal;
  /**
   * When the data dir is not a whole history (IncompleteHistoryError: a missing snapshot, log
   * segment or epoch file) or its log is corrupt (CorruptLogError): move its snapshots, epochs and
   * log aside into `<dataDir>/damaged-<UTC time>/` and start empty, so that the leader sends a full
   * snapshot (`zabkit server --rejoin-empty`). Data that checks out is used as it is. Not for a
   * standalone server (there is no leader to copy from): that still refuses. Default false.
   */
  rejoinEmpty?: boolean;
}

/** Starts the server a parsed config describes. */
export async function runServer(
  config: ServerConfig,
  logger: Logger = createLogger(`server.${config.myid}`),
  options: RunServerOptions = {},
): Promise<StartedServer> {
  const { signal } = options;
  const server = await ClusterServer.start(config, logger, signal, { rejoinEmpty: options.rejoinEmpty ?? false });
  // A cluster of one elects itself at once: hand it over serving, so callers can connect right away.
  if (config.servers.length <= 1) await server.serving();
  if (signal?.aborted) {
    await server.close();
    signal.throwIfAborted();
  }
  return server;
}
