import { parseArgs } from 'node:util';
import { ConfigError, CorruptLogError, IncompleteHistoryError, createLogger, loadConfig, runServer, type StartedServer } from '@zabkit/server';

/**
 * `zabkit server --config FILE [--myid N] [--rejoin-empty]`: runs until SIGTERM / SIGINT. A data dir
 * that is not a whole history is refused (exit 1, the reason and the way out on one line);
 * --rejoin-empty then moves it aside and starts empty (RunServerOptions.rejoinEmpty).
 */
export async function runServerCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, myid: { type: 'string' }, 'rejoin-empty': { type: 'boolean' } },
    strict: true,
  });
  if (!values.config) {
    console.error('zabkit server: --config FILE is required (a zoo.cfg-style file)');
    return 2;
  }
  const myid = values.myid === undefined ? undefined : Number(values.myid);
  if (myid !== undefined && (!Number.isInteger(myid) || myid < 1)) {
    console.error(`zabkit server: --myid must be a positive integer, got '${values.myid}'`);
    return 2;
  }
  let loaded;
  try {
    loaded = await loadConfig(values.config, myid === undefined ? {} : { myid });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`zabkit server: invalid config ${values.config}: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger(`server.${loaded.config.myid}`);
  for (const w of loaded.warnings) logger.warn(w);
  // Installed before startup: a SIGTERM during a long log recovery stops it cleanly (the log is only
  // read then) instead of killing the process with the default action.
  const startup = new AbortController();
  let server: StartedServer | undefined;
  const stop = (signal: string) => {
    logger.info(`${signal} received, shutting down`);
    startup.abort(new Error(`${signal} received during startup`));
    void server?.close();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  try {
    server = await runServer(loaded.config, logger, { signal: startup.signal, rejoinEmpty: values['rejoin-empty'] ?? false });
  } catch (err) {
    if (startup.signal.aborted && err === startup.signal.reason) {
      logger.info('server stopped before it started serving');
      return 0;
    }
    // (a refusal's message says what is wrong and the way out: no "cannot start" prefix, no stack)
    if (err instanceof IncompleteHistoryError) logger.error(err.message);
    else if (err instanceof CorruptLogError) logger.error(`cannot start: ${err.message}. Restore the file, or restart with --rejoin-empty to rejoin empty`);
    else logger.error(`cannot start: ${(err as Error).message}`);
    return 1;
  }
  const err = await server.stopped;
  return err ? 1 : 0;
}
