// The old system's bulk submission, as make bench measures it beside POST /jobs/batch:
// BullMQ's queue.addBulk of render jobs (as GET /template adds), BATCH jobs a call, one
// client, until JOBS are added. Run with the old system's node_modules on NODE_PATH.
//
//   node add_bulk.js JOBS BATCH     (SEED_REDIS_PORT names its Redis)
//
// Prints {"jobs": N, "seconds": S} as one line of JSON.
'use strict';
const { Queue } = require('bullmq');

async function main() {
  const jobs = Number(process.argv[2]);
  const batch = Number(process.argv[3]);
  const connection = { host: '127.0.0.1', port: Number(process.env.SEED_REDIS_PORT) };
  // A queue no worker takes from: the stack's bulk submission runs with no worker either.
  const queue = new Queue('bulk', { connection });
  await queue.waitUntilReady();
  const bulk = Array.from({ length: batch }, (_, i) => ({
    name: 'render',
    data: { template: 'page', user: `bench-${i}` },
  }));
  const started = process.hrtime.bigint();
  for (let added = 0; added + batch <= jobs; added += batch) {
    await queue.addBulk(bulk);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(JSON.stringify({ jobs: Math.floor(jobs / batch) * batch, seconds }));
  await queue.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
