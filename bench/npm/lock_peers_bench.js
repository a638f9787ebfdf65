// The lock benchmark's peers, same phases as bench/lock_bench.cpp: Redlock (node-redlock 5 on one
// Redis, ioredis) and etcd3's Lock (gRPC). Neither can wait for a release: Redlock retries on a
// timer (its default: every 200 ms + up to 200 ms jitter), etcd3's acquire fails when the lock is
// held, so the contended phase retries it every 10 ms.
// Usage: node lock_peers_bench.js redlock|etcd3 PORT PAIRS WORKERS
'use strict';
const [kind, port, pairsArg, workersArg] = process.argv.slice(2);
const pairs = Number(pairsArg);
const workers = Number(workersArg);

function report(phase, n, latencies, done, errors, seconds) {
  latencies.sort((a, b) => a - b);
  const at = (q) => (latencies.length ? latencies[Math.floor(q * (latencies.length - 1))] : 0);
  console.log(`RESULT ${kind} ${phase} workers=${n} pairs_per_s=${(done / seconds).toFixed(0)} ` +
              `acquire_p50_ms=${at(0.5).toFixed(2)} acquire_p99_ms=${at(0.99).toFixed(2)} acquire_max_ms=${at(1).toFixed(1)} errors=${errors}`);
}

async function phase(name, n, sameName, acquire) {
  const latencies = [];
  let done = 0;
  let errors = 0;
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: n }, async (_, w) => {
    const resource = sameName ? `bench-${name}` : `bench-${name}-${w}`;
    for (let i = 0; i < Math.floor(pairs / n); i++) {
      const t = process.hrtime.bigint();
      try {
        const release = await acquire(resource);
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
        await release();
        done++;
      } catch (e) {
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
        errors++;
      }
    }
  }));
  report(name, n, latencies, done, errors, Number(process.hrtime.bigint() - start) / 1e9);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  if (kind === 'redlock') {
    const Redis = require('ioredis');
    const Redlock = require('redlock').default;
    const client = new Redis({ host: '127.0.0.1', port: Number(port) });
    const once = new Redlock([client], { retryCount: 0 });
    const waiting = new Redlock([client], { retryCount: 100000 });  // default delay 200 ms + jitter
    const take = (redlock) => async (resource) => {
      const lock = await redlock.acquire([resource], 10000);
      return () => lock.release();
    };
    await phase('uncontended', 1, true, take(once));
    await phase('parallel', workers, false, take(once));
    await phase('contended', workers, true, take(waiting));
    client.disconnect();
  } else {
    const { Etcd3, EtcdLockFailedError } = require('etcd3');
    const client = new Etcd3({ hosts: `127.0.0.1:${port}` });
    const take = (retry) => async (resource) => {
      for (;;) {
        const lock = client.lock(resource).ttl(10);
        try {
          await lock.acquire();
          return () => lock.release();
        } catch (e) {
          if (!retry || !(e instanceof EtcdLockFailedError)) throw e;
          await sleep(10);
        }
      }
    };
    await phase('uncontended', 1, true, take(false));
    await phase('parallel', workers, false, take(false));
    await phase('contended', workers, true, take(true));
    client.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
