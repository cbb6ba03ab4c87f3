// cron.js computes job scheduler run times exactly as BullMQ 6.7.0 does
// (its defaultRepeatStrategy over cron-parser), for TestCronSameAsNode.
//
//   node cron.js < cases.json
//
// Input: a JSON array of {pattern, tz?, start, n, startDate?, endDate?}.
// Output: a JSON array with, per case, the chain of n next runs (each
// computed from the previous one, as a worker on time would), cut short
// when BullMQ would stop, or {error} when BullMQ would throw.
'use strict';
const { defaultRepeatStrategy } = require('bullmq/dist/cjs/classes/job-scheduler');

let input = '';
process.stdin.on('data', d => (input += d));
process.stdin.on('end', () => {
  const out = JSON.parse(input).map(c => {
    const opts = { pattern: c.pattern };
    if (c.tz) opts.tz = c.tz;
    if (c.startDate) opts.startDate = c.startDate;
    if (c.endDate) opts.endDate = c.endDate;
    const runs = [];
    let t = c.start;
    try {
      for (let i = 0; i < c.n; i++) {
        const next = defaultRepeatStrategy(t, opts);
        if (next === undefined) break;
        runs.push(next);
        t = next;
      }
    } catch (e) {
      return { error: String(e && e.message) };
    }
    return { runs };
  });
  process.stdout.write(JSON.stringify(out));
});
