import { start } from './index.js';

// ZABKIT_CONNECT=127.0.0.1:2181 PORT=8081 RUNNER_ID=runner-a node dist/main.js
// then: curl -X POST localhost:8081/jobs/nightly-report ; curl localhost:8081/jobs/nightly-report
const runner = await start(process.env.ZABKIT_CONNECT ?? '127.0.0.1:2181', {
  port: Number(process.env.PORT ?? 0),
  ...(process.env.RUNNER_ID ? { id: process.env.RUNNER_ID } : {}),
});
console.log(`${runner.id} listening on ${runner.url}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void runner.close());
