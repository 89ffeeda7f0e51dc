#!/usr/bin/env node
import { loadServerCommand } from './bundled-server.js';

// (VERSION is loaded only where it is printed: a server process loads the server from its bundle)
const version = async (): Promise<string> => (await import('@zabkit/server')).VERSION;

const usage = async (): Promise<string> => `zabkit ${await version()} — a ZooKeeper-style coordination service

usage:
  zabkit server --config FILE [--myid N] [--rejoin-empty]
                                             run one server from a zoo.cfg file; --rejoin-empty: if its
                                             data is not a whole history (refused otherwise), move it
                                             aside to <dataDir>/damaged-<time>/ and rejoin empty
  zabkit dev [--nodes N] [--observers K] [--port P] [--data DIR] [--demo]
                                             start a local cluster on 127.0.0.1 (Ctrl-C stops it)
  zabkit shell CONNECT [-c "CMD"]            zkCli-style shell (ls, get, stat, create, set, delete, ...)
  zabkit status CONNECT                      role, zxid, sessions, ... of every server in CONNECT
  zabkit --version

CONNECT is host:port[,host:port...][/chroot]`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    // Each command loads only its own modules: a server process never loads the shell, the client or the demo.
    case 'server':
      return (await loadServerCommand()).runServerCommand(rest);
    case 'dev':
      return (await import('./commands/dev.js')).runDev(rest);
    case 'shell':
      return (await import('./commands/shell.js')).runShell(rest);
    case 'status':
      return (await import('./commands/status.js')).runStatus(rest);
    case '--version':
    case '-v':
      console.log(await version());
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(await usage());
      return command === undefined ? 1 : 0;
    default:
      console.error(`zabkit: unknown command '${command}'\n\n${await usage()}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // Commands that keep running (server, dev) resolve only when done.
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`zabkit: ${(err as Error)?.message ?? err}`);
    process.exitCode = 1;
  },
);
