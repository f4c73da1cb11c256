/**
 * The gateway, wired: configuration -> upstream client, research pipeline, HTTP app, listening server.
 *
 * The HTTP side and the research pipeline (src/gateway/research-pipeline.ts) meet in a small contract: the HTTP
 * side calls `accept({ bytes }, sender, 'tap' | 'deid-only')` per instance (see stow/research-intake.ts), which
 * resolves only after the instance is durably spooled and queued; it mounts `apiRouter()` at /api, and calls
 * `start()` / `stop()` here. The pipeline releases instances in the worker pool started here and shares the
 * gateway's Prometheus registry.
 *
 * Nothing happens on import: createGateway() builds, start() listens, stop() closes.
 */
import { hostname } from 'node:os';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { PseudonymKey } from '../anonymizer/deid-types.js';
import { KEY_ENV, loadPseudonymKey, writeNewKeyFile } from '../anonymizer/settings/key-source.js';
import { loadSubjectLookup } from '../anonymizer/settings/subject-lookup.js';
import { DEMO_MODELS_WARNING } from '../anonymizer/pixel/pixel-models-notice.js';
import { ReleasePool, releaseWorkerData } from '../workers/release-pool.js';
import { AnofairError } from '../errors/anofair-error.js';
import { createLogger, type Logger } from '../observability/logger.js';
import type { GatewayConfig } from './config/config-schema.js';
import type { AuditSink } from './audit/audit-event.js';
import { AUDIT_FILE, AuditTrail } from './audit/audit-trail.js';
import { SyslogExport } from './audit/syslog-export.js';
import { ExportJobs } from './exports/export-jobs.js';
import { exportsApiRouter } from './research-api/exports-api-router.js';
import { createApp } from './http/app.js';
import { RELAY_BUFFER_BYTES, UpstreamClient } from './proxy/upstream-client.js';
import { ResearchPipeline } from './research-pipeline.js';
import { loadDefaultRules } from './rules/default-rules.js';
import { loadRulesFile } from './rules/rules-loader.js';
import type { RuleSet } from './rules/rule-types.js';
import { createListener, type GatewayListener } from './tls/tls-listener.js';
import { checkTlsSettings } from './tls/tls-settings-check.js';
import { AccessControl } from './access/access-control.js';
import { TOKENS_FILE, TokenStore } from './access/api-tokens.js';
import { defaultAllowedHosts, HostAllowList } from './access/host-allow-list.js';
import { OidcVerifier } from './access/oidc-verifier.js';
import { SCOPES } from './access/scopes.js';

export interface GatewayOptions {
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Where the configuration came from (a file path or 'embedded defaults'), for the audit trail. */
  configSource?: string;
}

export interface Gateway {
  readonly config: Readonly<GatewayConfig>;
  /** http://host:port once started (https:// with server.tls). */
  readonly url: string;
  readonly pipeline?: ResearchPipeline;
  readonly rules?: RuleSet;
  /** Lines that say what this gateway does, for the start-up message. */
  describe(): string[];
  start(): Promise<void>;
  /** Load server.tls's certificate and key again now, as SIGHUP does; false when refused (the old pair stays) or TLS is off. */
  reloadTls(): boolean;
  stop(): Promise<void>;
}

const KEY_FILE_NAME = 'pseudonym.key';
/** Where the first start of a gateway that requires credentials leaves its first token (mode 0600). */
export const INITIAL_TOKEN_FILE = 'initial-admin.token';

/**
 * The first start with auth.mode required and no way in (no API token ever made, no client in the file, no
 * OIDC issuer) makes one token with every scope, valid 30 days, into <data>/initial-admin.token: the shipped
 * configuration requires credentials and still runs without set-up. The token is never logged; its file is.
 */
async function ensureInitialToken(config: Readonly<GatewayConfig>, tokens: TokenStore, logger: Logger): Promise<string | undefined> {
  if (config.auth.mode !== 'required' || config.auth.oidc || Object.keys(config.auth.clients).length > 0 || !tokens.isEmpty()) return undefined;
  const created = tokens.create('initial-admin', [...SCOPES], Date.now() + 30 * 86_400_000);
  const path = join(config.data, INITIAL_TOKEN_FILE);
  await writeFile(path, `${created.token}\n`, { mode: 0o600 });
  logger.warn(
    { tokenFile: path, tokenId: created.id, scopes: created.scopes },
    'created a first API token with every scope (valid 30 days) in the token file: use it as Authorization: Bearer <token>, make scoped tokens with `anofair token create`, then revoke it',
  );
  return path;
}

/**
 * The pseudonymisation key: ANOFAIR_DEID_KEY, else deidentification.keyFile, else <data>/pseudonym.key, created
 * (mode 0600) on the first start so that `anofair serve` runs without set-up and stays consistent afterwards.
 */
async function resolveKey(config: Readonly<GatewayConfig>, env: NodeJS.ProcessEnv, logger: Logger): Promise<PseudonymKey> {
  const settings = config.deidentification;
  if (env[KEY_ENV] || settings.keyFile) return loadPseudonymKey(settings, env);
  const path = join(config.data, KEY_FILE_NAME);
  try {
    await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new AnofairError('DEID_KEY_MISSING', `cannot read the key file ${path}: ${(err as NodeJS.ErrnoException).code}`);
    const id = writeNewKeyFile(path);
    logger.warn({ keyFile: path, keyId: id }, 'created a new pseudonymisation key; back it up: pseudonyms cannot be reproduced without it');
  }
  return loadPseudonymKey({ ...settings, keyFile: path }, env);
}

/** What the 'config-load' audit row says: where the rules came from, digests and counts; no configured value. */
function configFacts(config: Readonly<GatewayConfig>, rules: RuleSet | undefined, source: string | undefined): Record<string, string | number> {
  return {
    ...(source ? { configSource: source.startsWith('embedded') ? 'embedded' : source } : {}),
    configHash: createHash('sha256').update(JSON.stringify(config)).digest('hex'),
    rulesSource: rules ? (rules.source.startsWith('embedded') ? 'embedded' : rules.source) : 'none',
    ...(rules ? { rulesHash: rules.hash, rules: rules.rules.length } : {}),
    destinations: Object.keys(config.destinations).length,
  };
}

export async function createGateway(config: Readonly<GatewayConfig>, options: GatewayOptions = {}): Promise<Gateway> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? createLogger({ level: env.ANOFAIR_LOG_LEVEL ?? config.logging.level });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'anofair_' });
  const destinations = Object.keys(config.destinations);
  const tmpRoot = join(config.data, 'tmp');

  let pipeline: ResearchPipeline | undefined;
  let pool: ReleasePool | undefined;
  let rules: RuleSet | undefined;
  if (destinations.length > 0) {
    rules = config.rules ? await loadRulesFile(config.rules, { knownDestinations: destinations }) : loadDefaultRules(destinations);
  }
  const upstream = new UpstreamClient(config.upstream);
  checkTlsSettings(config, logger);
  let tokens: TokenStore | undefined;
  let initialTokenFile: string | undefined;
  let server: Server | undefined;
  let listener: GatewayListener | undefined;
  let url = '';
  let trail: AuditTrail | undefined;
  let exportJobs: ExportJobs | undefined;
  let auditExport: SyslogExport | undefined;

  const gateway: Gateway = {
    config,
    get url() {
      return url;
    },
    get pipeline() {
      return pipeline;
    },
    rules,
    describe() {
      const lines = [
        `AnoFAIR Gateway listening on ${url}`,
        `  clinical DICOMweb:   ${url}/dicom-web  ->  upstream PACS ${upstream.url}`,
      ];
      if (pipeline && rules) {
        lines.push(`  STOW tap:            ${config.stow.tap ? 'on' : 'off'} (routing rules: ${rules.source}, ${rules.rules.length} rules)`);
        for (const [name, d] of Object.entries(config.destinations)) lines.push(`  research destination "${name}": ${d.url}`);
        if (config.deidEndpoint.enabled) lines.push(`  de-identify only:    ${url}/deid/dicom-web/studies`);
        lines.push(`  research API:        ${url}/api`);
        if (pool) {
          const m = pool.pixelModels;
          lines.push(`  release workers:     ${pool.threads} thread(s)${m ? `; pixel models ${m.folder} on ${m.inpaint.provider}${m.providerFallback ? ` (${m.providerFallback})` : ''}` : '; no pixel models (no rule asks for them)'}`);
          if (m?.demo) lines.push(`  ${DEMO_MODELS_WARNING}`);
        }
      } else {
        lines.push('  research path:       off (no destinations configured)');
      }
      const auth = config.auth;
      lines.push(
        auth.mode === 'off'
          ? '  access control:      OFF (loopback only; auth.mode off)'
          : `  access control:      ${auth.mode}; API tokens (anofair token create) in ${join(config.data, TOKENS_FILE)}${auth.oidc ? `; OIDC issuer ${auth.oidc.issuer}` : ''}${initialTokenFile ? `; first token in ${initialTokenFile}` : ''}`,
      );
      lines.push(`  state and spool:     ${config.data}`);
      if (config.metrics.enabled) lines.push(`  metrics:             ${url}/metrics`);
      return lines;
    },
    async start() {
      await mkdir(config.data, { recursive: true });
      // the trail opens before anything it records can happen; one that cannot be opened fails the start
      trail = new AuditTrail(join(config.data, AUDIT_FILE), { registry, logger });
      const auditSink: AuditSink = trail;
      auditSink.record({ type: 'config-load', outcome: 'success', actor: 'gateway', credential: 'system', detail: configFacts(config, rules, options.configSource) });
      if (config.audit.syslog) {
        auditExport = new SyslogExport({ trail, config: config.audit.syslog, logger, registry });
        auditExport.start();
      }
      // Part files of requests a previous process was relaying: never acknowledged, so safe to drop.
      await rm(tmpRoot, { recursive: true, force: true });
      await mkdir(tmpRoot, { recursive: true });
      if (rules) {
        const key = await resolveKey(config, env, logger);
        const settings = config.deidentification;
        const site = {
          key,
          subjectLookup: settings.subjectLookup ? loadSubjectLookup(settings.subjectLookup) : undefined,
          dateShiftDays: settings.dateShiftDays,
          cleaningPolicy: settings.cleaningPolicy,
          burnedInPresumption: settings.burnedInPresumption,
          limits: config.limits,
        };
        // de-identification and the pixel step run in worker threads, off the event loop that relays clinical
        // traffic; the pixel models are loaded (in each worker) only when a rule asks for them
        const usesPixels = rules.rules.some((r) => r.action.kind === 'forward' && r.action.pixels === 'cxr-anofair');
        pool = await ReleasePool.start({
          threads: settings.workers.threads,
          taskTimeoutMs: settings.workers.taskTimeoutMs,
          maxHeapMb: settings.workers.maxHeapMb,
          // research work yields the CPU to the clinical path (the relay and, on the same host, the PACS)
          nice: settings.workers.nice ?? 19,
          data: releaseWorkerData(site, usesPixels ? (settings.pixels ?? {}) : undefined),
        });
        const models = pool.pixelModels;
        logger.info({ threads: pool.threads, ...(models ? { pixelModels: { folder: models.folder, demo: models.demo, classes: models.detector.classes, textClasses: models.detector.textClasses, providers: { detector: models.detector.provider, inpaint: models.inpaint.provider }, ...(models.providerFallback ? { providerFallback: models.providerFallback } : {}) } } : {}) }, models ? 'release workers started with the CXR-AnoFAIR pixel models' : 'release workers started');
        if (models?.demo) logger.warn({ pixelModels: models.folder }, DEMO_MODELS_WARNING);
        pipeline = new ResearchPipeline({
          dataDir: config.data,
          rules,
          destinations: config.destinations,
          deid: site,
          releaser: pool,
          limits: config.limits,
          retry: config.forwarding.retry,
          nodeId: config.forwarding.nodeId,
          concurrency: config.forwarding.concurrency,
          pollMs: config.forwarding.pollMs,
          leaseMs: config.forwarding.leaseMs,
          registry,
          logger,
          audit: auditSink,
        });
        await pipeline.start();
        logger.info({ keyId: key.id }, 'pseudonymisation key loaded');
        if (Object.keys(config.exports).length > 0) {
          exportJobs = new ExportJobs({
            jobs: config.exports,
            pipeline,
            rules,
            pacs: config.upstream,
            destinations: config.destinations,
            nodeId: config.forwarding.nodeId ?? hostname(),
            maxInstanceBytes: config.deidEndpoint.maxInstanceBytes,
            registry,
            logger,
          });
          await exportJobs.start();
        }
        auditSink.record({ type: 'key-use', outcome: 'success', actor: 'gateway', credential: 'system', detail: { keyId: key.id, purpose: 'pseudonymisation' } });
      }
      if (config.auth.mode !== 'off') {
        tokens = new TokenStore(join(config.data, TOKENS_FILE));
        initialTokenFile = await ensureInitialToken(config, tokens, logger);
      }
      const allowedHosts = config.server.allowedHosts ?? defaultAllowedHosts(config.server.host);
      const access = new AccessControl({
        auth: config.auth,
        tokens,
        oidc: config.auth.oidc ? new OidcVerifier(config.auth.oidc) : undefined,
        hosts: new HostAllowList(allowedHosts),
        audit: auditSink,
        logger,
        registry,
      });
      logger.info({ mode: config.auth.mode, oidc: Boolean(config.auth.oidc), configClients: Object.keys(config.auth.clients).length, allowedHosts }, 'access control');
      const app = createApp({
        access,
        audit: auditSink,
        config,
        upstream,
        logger,
        registry,
        research: pipeline,
        apiRouter: pipeline?.apiRouter(),
        exportsRouter: exportJobs ? exportsApiRouter(exportJobs, auditSink) : undefined,
        tmpRoot,
        status: pipeline
          ? async () => ({
              research: await pipeline!.status(),
              workers: { ...pool!.stats(), ...(pool!.pixelModels ? { pixelModels: { demo: pool!.pixelModels.demo, detector: pool!.pixelModels.detector.provider, inpaint: pool!.pixelModels.inpaint.provider } } : {}) },
            })
          : undefined,
      });
      // 1 MiB socket buffers: a relayed retrieve is written in large chunks, with fewer waits for 'drain'.
      listener = createListener(app, { tls: config.server.tls, highWaterMark: RELAY_BUFFER_BYTES, maxHeaderSize: config.limits.maxHttpHeaderBytes, logger });
      server = listener.server;
      server.requestTimeout = config.server.requestTimeoutMs;
      server.keepAliveTimeout = config.server.keepAliveTimeoutMs;
      // Node refuses a headers timeout above the request timeout.
      server.headersTimeout = Math.min(config.server.headersTimeoutMs, config.server.requestTimeoutMs || Infinity);
      // No byte either way for this long: the client stopped reading (STOW-RS waits on the PACS are exempt, see upload-guard.ts).
      server.timeout = config.server.socketIdleTimeoutMs;
      await new Promise<void>((resolve, reject) => {
        server!.once('error', (err: NodeJS.ErrnoException) => {
          listener?.close();
          reject(new AnofairError('CONFIG_INVALID', `cannot listen on ${config.server.host}:${config.server.port}: ${err.code ?? err.message}`, undefined, { cause: err }));
        });
        server!.listen(config.server.port, config.server.host, () => resolve());
      });
      const address = server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      url = `${listener.protocol}://${host}:${address.port}`;
      logger.info({ url, upstream: upstream.url, destinations }, 'gateway started');
    },
    reloadTls() {
      return listener?.reload() ?? false;
    },
    async stop() {
      listener?.close();
      listener = undefined;
      if (server) {
        const s = server;
        server = undefined;
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeIdleConnections();
          // Requests still running get a moment to finish, then their connections are cut.
          setTimeout(() => s.closeAllConnections(), 10_000).unref();
        });
      }
      await exportJobs?.stop();
      exportJobs = undefined;
      await pipeline?.stop();
      await pool?.close();
      await upstream.close();
      tokens?.close();
      tokens = undefined;
      // what the export has not sent yet goes after the next start: its cursor is in the trail's file
      await auditExport?.stop();
      auditExport = undefined;
      trail?.close();
      trail = undefined;
      logger.info('gateway stopped');
    },
  };
  return gateway;
}
