import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { destinationSchema } from '../../src/gateway/forwarding/destination.js';
import { retryPolicySchema, type RetryPolicy } from '../../src/gateway/forwarding/retry-policy.js';
import { ResearchPipeline, type ResearchPipelineOptions } from '../../src/gateway/research-pipeline.js';
import { DEFAULT_RULES_YAML } from '../../src/gateway/rules/default-rules.js';
import { loadRules } from '../../src/gateway/rules/rules-loader.js';
import { waitFor } from './wait-for.js';

/** Shared set-up for research pipeline tests: a temporary data folder, a test key, fast retries. */

export const TEST_KEY = { id: 'test-key-1', secret: new Uint8Array(32).map((_, i) => (i * 7 + 3) & 0xff) };

export const FORWARD_ALL_RULES = `version: 1
rules:
  - name: everything
    forward: { destinations: [research] }
`;

/**
 * The shipped rules' selection with the header profile only: for tests of the pipeline's mechanics on 8x8
 * synthetic instances, which the pixel step refuses. The shipped rules themselves, pixel step included, are
 * tested end to end in src/gateway/server.test.ts.
 */
export const SHIPPED_SELECTION_HEADER_ONLY = DEFAULT_RULES_YAML.replace('pixels: cxr-anofair', 'pixels: none');

export const FAST_RETRY: RetryPolicy = retryPolicySchema.parse({ baseMs: 20, capMs: 200, maxAttempts: 3, jitter: 'none' });

export interface KitOptions {
  archiveUrl: string;
  rules?: string;
  retry?: RetryPolicy;
  maxBatchInstances?: number;
  dataDir?: string;
  overrides?: Partial<ResearchPipelineOptions>;
}

export async function makePipeline(options: KitOptions): Promise<{ pipeline: ResearchPipeline; dataDir: string; dispose: () => Promise<void> }> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'anofair-research-')));
  const pipeline = new ResearchPipeline({
    dataDir,
    rules: loadRules(options.rules ?? FORWARD_ALL_RULES, { source: 'test rules', knownDestinations: ['research'] }),
    destinations: { research: destinationSchema.parse({ url: options.archiveUrl, maxBatchInstances: options.maxBatchInstances ?? 20, timeoutMs: 10_000 }) },
    deid: { key: TEST_KEY },
    retry: options.retry ?? FAST_RETRY,
    nodeId: 'test-node',
    pollMs: 25,
    batchWindowMs: 150,
    ...options.overrides,
  });
  return {
    pipeline,
    dataDir,
    dispose: async () => {
      await pipeline.stop();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}


/** Resolves when nothing is pending or in flight. */
export async function drained(pipeline: ResearchPipeline, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    'the queue to drain',
    async () => {
      const { totals } = await pipeline.status();
      return totals.pending === 0 && totals['in-flight'] === 0;
    },
    timeoutMs,
  );
}

export async function spoolFiles(dataDir: string): Promise<string[]> {
  return (await readdir(join(dataDir, 'spool'))).filter((n) => n.endsWith('.dcm'));
}

export { waitFor };
