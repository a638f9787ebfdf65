// BullMQ's side of bench/task_queue_bench.sh: the same workload as bench/task_queue_bench.cpp on
// the same redis-server — PRODUCERS concurrent loops add TASKS jobs while one Worker with
// CONCURRENCY runs a no-op processor; the figure is TASKS / (first add → last completion).
// Usage: node bullmq_bench.js PORT TASKS CONCURRENCY PRODUCERS
'use strict';
const { Queue, Worker } = require('bullmq');

async function main() {
  const [port, tasks, concurrency, producers] = process.argv.slice(2).map(Number);
  const connection = { host: '127.0.0.1', port };
  const queue = new Queue('bullbench', { connection });
  let done = 0;
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });
  const worker = new Worker('bullbench', async () => ({}), { connection, concurrency, autorun: false });
  worker.on('completed', () => { if (++done === tasks) finish(); });
  worker.on('failed', (job, err) => { console.error('failed', err); process.exit(1); });
  await worker.waitUntilReady();
  const start = process.hrtime.bigint();
  worker.run();
  const share = Math.floor(tasks / producers);
  let enqueueSeconds = 0;
  const loops = [];
  for (let p = 0; p < producers; p++) {
    const count = p === producers - 1 ? tasks - share * (producers - 1) : share;
    loops.push((async () => {
      for (let i = 0; i < count; i++) await queue.add('noop', { n: p * share + i });
    })());
  }
  await Promise.all(loops);
  enqueueSeconds = Number(process.hrtime.bigint() - start) / 1e9;
  await finished;
  const total = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(`BullMQ ${require('bullmq/package.json').version}: ${tasks} tasks, concurrency ${concurrency}, ` +
              `${producers} producers: enqueue ${(tasks / enqueueSeconds).toFixed(0)}/s, ` +
              `end to end ${(tasks / total).toFixed(0)} tasks/s (${total.toFixed(2)} s)`);
  console.log(`RESULT bullmq ${(tasks / total).toFixed(0)}`);
  await worker.close();
  await queue.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
