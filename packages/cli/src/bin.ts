#!/usr/bin/env node
import { VERSION } from '@zabkit/server';
import { runDev } from './commands/dev.js';
import { runServerCommand } from './commands/server.js';
import { runShell } from './commands/shell.js';
import { runStatus } from './commands/status.js';

const USAGE = `zabkit ${VERSION} — a ZooKeeper-style coordination service

usage:
  zabkit server --config FILE [--myid N]     run one server from a zoo.cfg file
  zabkit dev [--nodes N] [--observers K] [--port P] [--data DIR] [--demo]
                                             start a local cluster on 127.0.0.1 (Ctrl-C stops it)
  zabkit shell CONNECT [-c "CMD"]            zkCli-style shell (ls, get, stat, create, set, delete, ...)
  zabkit status CONNECT                      role, zxid, sessions, ... of every server in CONNECT
  zabkit --version

CONNECT is host:port[,host:port...][/chroot]`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'server':
      return runServerCommand(rest);
    case 'dev':
      return runDev(rest);
    case 'shell':
      return runShell(rest);
    case 'status':
      return runStatus(rest);
    case '--version':
    case '-v':
      console.log(VERSION);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return command === undefined ? 1 : 0;
    default:
      console.error(`zabkit: unknown command '${command}'\n\n${USAGE}`);
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
