import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { connect, getServerStatus } from '@zabkit/client';
import { execShellCommand } from '../shell-commands.js';

/** `zabkit shell CONNECT [-c CMD]`: zkCli-style. With -c, runs one command and exits 0 / non-zero. */
export async function runShell(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { command: { type: 'string', short: 'c' }, timeout: { type: 'string', default: '10000' } },
    allowPositionals: true,
    strict: true,
  });
  const target = positionals[0];
  if (!target) {
    console.error('usage: zabkit shell host:port[,host:port...][/chroot] [-c "command"]');
    return 2;
  }
  const client = await connect(target, { sessionTimeoutMs: 30_000, requestTimeoutMs: Number(values.timeout) || 10_000 });
  const status = () => getServerStatus(client.serverAddress ?? target.split(',')[0]!.split('/')[0]!);
  const run = async (line: string): Promise<boolean> => {
    try {
      const out = await execShellCommand(client, line, status);
      if (out) console.log(out);
      return true;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      console.error(`${e.code ?? 'Error'}: ${e.message ?? err}`);
      return false;
    }
  };
  try {
    if (values.command !== undefined) return (await run(values.command)) ? 0 : 1;
    const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: `[zabkit: ${target}] ` });
    rl.prompt();
    for await (const line of rl) {
      const trimmed = line.trim();
      if (trimmed === 'quit' || trimmed === 'exit') break;
      if (trimmed) await run(trimmed);
      rl.prompt();
    }
    rl.close();
    return 0;
  } finally {
    await client.close().catch(() => {});
  }
}
