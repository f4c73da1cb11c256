import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/gateway/config/config-loader.js';
import { createGateway, type Gateway } from '../../src/gateway/server.js';
import { createLogger } from '../../src/observability/logger.js';
import { startOrthanc, type OrthancOptions, type OrthancServer } from './orthanc.js';

/** A fixed test key (hex, 32 bytes): pseudonyms are reproducible across test runs. */
export const TEST_DEID_KEY_HEX = '5f'.repeat(8) + '0123456789abcdef'.repeat(3);

export const FORWARD_EVERYTHING_RULES = `version: 1
rules:
  - name: everything
    forward: { destinations: [research] }
`;

export interface StackOptions {
  /** Routing rules YAML; default: the shipped rules. */
  rules?: string;
  /** Without a research archive the research path is off. Default true. */
  archive?: boolean;
  /** Extra configuration, merged over the stack's (deep for plain objects). */
  config?: Record<string, unknown>;
  pacsOptions?: OrthancOptions;
  /** Upstream URL to use instead of the PACS (e.g. a dead port). */
  upstreamUrl?: string;
}

export interface Stack {
  pacs: OrthancServer;
  archive?: OrthancServer;
  gateway: Gateway;
  /** Gateway base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  dataDir: string;
  /** Every log line the gateway wrote (JSON text), for PHI checks. */
  logs: string[];
  stop(): Promise<void>;
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur) ? merge(cur as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/** A clinical PACS and a research archive (real Orthanc servers) and a gateway between them, on free ports. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const dataDir = await mkdtemp(join(tmpdir(), 'anofair-gw-'));
  const pacs = await startOrthanc({ name: 'CLINICAL-PACS', ...options.pacsOptions });
  let archive: OrthancServer | undefined;
  try {
    if (options.archive !== false) archive = await startOrthanc({ name: 'RESEARCH-ARCHIVE' });
    const logs: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        cb();
      },
    });
    let rulesPath: string | undefined;
    if (options.rules) {
      rulesPath = join(dataDir, 'rules.yaml');
      await writeFile(rulesPath, options.rules);
    }
    const base: Record<string, unknown> = {
      server: { host: '127.0.0.1', port: 0 },
      upstream: { url: options.upstreamUrl ?? pacs.dicomWebUrl, connectTimeoutMs: 2_000 },
      data: join(dataDir, 'data'),
      ...(archive ? { destinations: { research: { url: archive.dicomWebUrl, timeoutMs: 10_000 } } } : {}),
      ...(rulesPath ? { rules: rulesPath } : {}),
      forwarding: { pollMs: 50, retry: { baseMs: 50, capMs: 500, jitter: 'none' } },
      // the mechanics tests talk to a loopback gateway without credentials; access control
      // (src/gateway/access) is tested with the shipped default, auth.mode required
      auth: { mode: 'off' },
      logging: { level: 'debug' },
    };
    const config = parseConfig(stringify(merge(base, options.config ?? {})), { source: 'test stack' });
    const gateway = await createGateway(config, {
      logger: createLogger({ level: 'debug', destination }),
      env: { ANOFAIR_DEID_KEY: TEST_DEID_KEY_HEX },
    });
    await gateway.start();
    return {
      pacs,
      archive,
      gateway,
      url: gateway.url,
      dataDir,
      logs,
      async stop() {
        await gateway.stop().catch(() => undefined);
        await archive?.dispose();
        await pacs.dispose();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await archive?.dispose();
    await pacs.dispose();
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}
