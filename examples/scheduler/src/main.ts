import { start } from './index.js';

// Run several: ZABKIT_CONNECT=127.0.0.1:2181 PORT=8082 SCHEDULER_ID=s1 node dist/main.js
// then: curl localhost:8082/status   (only the leader ticks; stop it and another takes over)
const scheduler = await start(process.env.ZABKIT_CONNECT ?? '127.0.0.1:2181', {
  port: Number(process.env.PORT ?? 0),
  ...(process.env.SCHEDULER_ID ? { id: process.env.SCHEDULER_ID } : {}),
});
console.log(`${scheduler.id} listening on ${scheduler.url}`);
// handOn: the next scheduler has taken over before this process exits
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void scheduler.close({ handOn: true, timeoutMs: 10_000 }));
