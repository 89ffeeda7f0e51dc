// The README's usage example, verbatim between the region markers (queue.test.ts checks both and runs it).
// #region readme
import { connect } from '@zabkit/client';
import { FifoQueue } from '@zabkit/queue';

interface Mail {
  to: string;
  subject: string;
}
const sendMail = async (mail: Mail, options: { signal: AbortSignal }): Promise<void> => {
  options.signal.throwIfAborted(); // your SMTP call here
};

await using zk = await connect(process.env.ZABKIT_SERVERS ?? '127.0.0.1:2181');
const mail = new FifoQueue<Mail>(zk, '/queues/mail');

// producers: any number, in any session
await mail.put({ to: 'ada@example.com', subject: 'welcome' });
await mail.put({ to: 'bob@example.com', subject: 'welcome' });

// delivered once: the item is removed before take() resolves
const first = await mail.take({ timeoutMs: 10_000 });

// at least once: the item stays until ack(); if this process dies first, another consumer gets it
const lease = await mail.take({ lease: true, timeoutMs: 10_000 });
await sendMail(lease.value, { signal: lease.signal });
await lease.ack();
// #endregion readme

export { first, lease };
