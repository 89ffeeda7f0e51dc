import { start, startCaller, startService } from './index.js';

// ROLE=service PORT=8083 SERVICE_ID=hello-1 node dist/main.js   (run several)
// ROLE=caller  PORT=8084 node dist/main.js  then: curl localhost:8084/call
// no ROLE: one instance and one caller in this process
const connectString = process.env.ZABKIT_CONNECT ?? '127.0.0.1:2181';
const port = Number(process.env.PORT ?? 0);
const role = process.env.ROLE;
let close: () => Promise<void>;
if (role === 'service') {
  const service = await startService(connectString, { port, ...(process.env.SERVICE_ID ? { id: process.env.SERVICE_ID } : {}) });
  close = service.close;
} else if (role === 'caller') {
  const caller = await startCaller(connectString, { port });
  console.log(`caller listening on ${caller.url} (GET /call)`);
  close = caller.close;
} else {
  const both = await start(connectString, { caller: { port } });
  console.log(`caller listening on ${both.caller.url} (GET /call)`);
  close = both.close;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void close());
