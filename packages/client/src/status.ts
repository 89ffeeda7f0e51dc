import WebSocket from 'ws';
import { FrameKind, decodeFrame, encodeFrame, type ServerStatus } from '@zabkit/protocol';
import { parseConnectString, wsUrl } from './connect-string.js';
import { ZabError, zabError } from './errors.js';
import type { CallOptions } from './options.js';

/** Asks one server (`host:port`) for its status; needs no session (like ZooKeeper's `srvr`). */
export function getServerStatus(address: string, options: CallOptions = {}): Promise<ServerStatus> {
  const server = parseConnectString(address).servers[0]!;
  const timeoutMs = options.timeoutMs ?? 5_000;
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(zabError('Aborted', 'status request aborted', { cause: options.signal.reason }));
    const ws = new WebSocket(wsUrl(server), { perMessageDeflate: false });
    let done = false;
    const finish = (err: ZabError | undefined, status?: ServerStatus): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      ws.removeAllListeners('message');
      ws.on('error', () => {});
      ws.close();
      if (err) reject(err);
      else resolve(status!);
    };
    const onAbort = (): void => finish(zabError('Aborted', 'status request aborted', { cause: options.signal?.reason }));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => finish(zabError('OperationTimeout', `no status from ${address} within ${timeoutMs} ms`)), timeoutMs);
    ws.on('open', () => ws.send(encodeFrame({ k: FrameKind.status })));
    ws.on('error', (cause) => finish(zabError('ConnectionLoss', `status request to ${address} failed: ${cause.message}`, { cause })));
    ws.on('close', () => finish(zabError('ConnectionLoss', `${address} closed the connection before answering`)));
    ws.on('message', (data: Buffer) => {
      try {
        const f = decodeFrame(data);
        if (f.k === FrameKind.statusReply) finish(undefined, f.status);
        else finish(zabError('MarshallingError', `unexpected frame kind ${f.k} in reply to status`));
      } catch (cause) {
        finish(zabError('MarshallingError', `undecodable status reply from ${address}`, { cause }));
      }
    });
  });
}
