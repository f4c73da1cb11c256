/**
 * A gateway research pipeline in its own process, for crash tests: the test kills it with SIGKILL and starts
 * it again on the same data folder. Argument: JSON { dataDir, archiveUrl, accept?: { seeds: string[] } }.
 * It writes one line per event on stdout: "started", "accepted <seed>" (after accept() resolved), "accepted-all",
 * and "status <json>" every 100 ms. SIGTERM stops it gracefully.
 */
import { makePipeline } from './research-pipeline-kit.js';
import { syntheticInstance } from './synthetic-instance.js';

const args = JSON.parse(process.argv[2] ?? '{}') as { dataDir: string; archiveUrl: string; accept?: { seeds: string[] } };
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

const { pipeline } = await makePipeline({
  archiveUrl: args.archiveUrl,
  dataDir: args.dataDir,
  maxBatchInstances: 2,
  overrides: { concurrency: 1, batchWindowMs: 50 },
});
await pipeline.start();
say('started');
const timer = setInterval(() => {
  pipeline
    .status()
    .then((s) => say(`status ${JSON.stringify(s.totals)}`))
    .catch(() => undefined);
}, 100);
process.on('SIGTERM', () => {
  clearInterval(timer);
  void pipeline.stop().then(() => process.exit(0));
});
for (const seed of args.accept?.seeds ?? []) {
  const study = seed.split('/')[0]!;
  await pipeline.accept({ bytes: syntheticInstance({ seed, overrides: { __study: study } }) }, {}, 'tap');
  say(`accepted ${seed}`);
}
say('accepted-all');
