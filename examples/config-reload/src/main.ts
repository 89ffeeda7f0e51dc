import { start } from './index.js';

// ZABKIT_CONNECT=127.0.0.1:2181 PORT=8085 node dist/main.js ; curl localhost:8085/
// then publish a config (publish() from @zabkit/config creates the node), or once it exists:
//   zabkit shell 127.0.0.1:2181 -c 'set /examples/config-reload/greeting {"greeting":"bonjour"}' ; curl localhost:8085/
const service = await start(process.env.ZABKIT_CONNECT ?? '127.0.0.1:2181', {
  port: Number(process.env.PORT ?? 0),
  ...(process.env.CONFIG_PATH ? { configPath: process.env.CONFIG_PATH } : {}),
});
console.log(`config-reload listening on ${service.url}, config at ${service.watcher.path}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void service.close());
