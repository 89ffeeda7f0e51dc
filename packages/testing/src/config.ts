/** zoo.cfg rendering shared by both runtimes. */

export interface NodeConfigInput {
  id: number;
  voters: number;
  observers: number;
  tickTime: number;
  dataDir: string;
  /** [clientPort, quorumPort, electionPort] per node id, index = id - 1. */
  ports: Array<[number, number, number]>;
  extraConfig?: Record<string, string | number>;
  /** The cluster's shared peer secret file as the server sees it; written as quorum.auth.secretFile for a cluster. */
  secretFile?: string;
}

export function renderZooCfg(input: NodeConfigInput): string {
  const count = input.voters + input.observers;
  const mine = input.ports[input.id - 1];
  if (!mine) throw new Error(`no ports for node ${input.id}`);
  const lines = [
    `tickTime=${input.tickTime}`,
    'initLimit=10',
    'syncLimit=5',
    `dataDir=${input.dataDir}`,
    `clientPort=${mine[0]}`,
    'clientPortAddress=127.0.0.1',
    ...(count > 1 && input.secretFile !== undefined && input.extraConfig?.['quorum.auth.secretFile'] === undefined ? [`quorum.auth.secretFile=${input.secretFile}`] : []),
    ...Object.entries(input.extraConfig ?? {}).map(([k, v]) => `${k}=${v}`),
  ];
  if (count > 1) {
    for (let j = 1; j <= count; j++) {
      const [, quorum, election] = input.ports[j - 1]!;
      lines.push(`server.${j}=127.0.0.1:${quorum}:${election}${j > input.voters ? ':observer' : ''}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** Splits a stream of text chunks into lines (the last partial line is held until its newline). */
export class LineSplitter {
  private buffered = '';
  constructor(private readonly onLine: (line: string) => void) {}
  push(chunk: string | Buffer): void {
    this.buffered += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      this.onLine(this.buffered.slice(0, nl).replace(/\r$/, ''));
      this.buffered = this.buffered.slice(nl + 1);
    }
  }
  flush(): void {
    if (this.buffered) this.onLine(this.buffered);
    this.buffered = '';
  }
}

/** A bounded log of one node over all its starts. */
export class NodeLog {
  private lines: string[] = [];
  private chars = 0;
  constructor(private readonly maxChars = 4 * 1024 * 1024) {}
  add(line: string): void {
    this.lines.push(line);
    this.chars += line.length + 1;
    while (this.chars > this.maxChars && this.lines.length > 1) this.chars -= this.lines.shift()!.length + 1;
  }
  text(): string {
    return this.lines.length ? this.lines.join('\n') + '\n' : '';
  }
}
