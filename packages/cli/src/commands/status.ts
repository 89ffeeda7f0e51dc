import { formatZxid } from '@zabkit/protocol';
import { getServerStatus } from '@zabkit/client';

/** `zabkit status CONNECT`: asks every server in the list, without a session. Exit 1 if any is down. */
export async function runStatus(args: string[]): Promise<number> {
  const target = args[0];
  if (!target) {
    console.error('usage: zabkit status host:port[,host:port...]');
    return 2;
  }
  const hosts = target.split('/')[0]!.split(',').filter(Boolean);
  let failures = 0;
  for (const host of hosts) {
    try {
      const s = await getServerStatus(host, { timeoutMs: 5000 });
      console.log(
        `${host}  server ${s.serverId}  ${s.role.padEnd(10)} epoch ${s.epoch}  zxid ${formatZxid(s.zxid)}  ` +
          `sessions ${s.sessions}  connections ${s.connections}  znodes ${s.znodes}  watches ${s.watches}  ` +
          `outstanding ${s.outstandingRequests}  latency min/avg/max ${s.latency.min}/${s.latency.avg}/${s.latency.max} ms` +
          (s.followers ? `  followers ${s.followers.join(',')}` : '') +
          (s.memory ? `  rss ${mb(s.memory.rss)} MB  heap ${mb(s.memory.heapUsed)}/${mb(s.memory.heapTotal)} MB` : '') +
          (s.peerAuth ? `  peer-auth ${s.peerAuth}` : ''),
      );
      if (s.peerAuth === 'insecure') {
        console.log(`${host}  WARNING: server ${s.serverId} runs with quorum.auth.insecure=true: anyone who reaches its peer ports can join the cluster`);
      }
    } catch (err) {
      failures++;
      console.log(`${host}  unreachable: ${(err as Error).message}`);
    }
  }
  return failures === 0 ? 0 : 1;
}

const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
