import { z } from 'zod';
import { DEFAULT_INPUT_LIMITS } from '../../dicom/input-limits.js';
import { deidSettingsSchema } from '../../anonymizer/settings/deid-settings-schema.js';
import { destinationsSchema } from '../forwarding/destination.js';
import { retryPolicySchema } from '../forwarding/retry-policy.js';

/**
 * The gateway configuration (YAML), validated once at start and frozen (STYLE 6). Every object is strict: an
 * unknown key fails the start with its path, line and a hint. config/anofair.example.yaml documents every key;
 * a test keeps the two in step.
 */

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const httpUrl = (what: string) =>
  z.url({ protocol: /^https?$/, error: `expected an http(s) URL of ${what}, e.g. http://pacs.example:8042/dicom-web` });

const bytes = z.number().int().positive();

export const serverSchema = z.strictObject({
  /** Interface to listen on. 127.0.0.1 (default) keeps the gateway local; 0.0.0.0 listens on every interface. */
  host: z.string().min(1).default('127.0.0.1'),
  /** TCP port; 0 picks a free one. */
  port: z.number().int().min(0).max(65535).default(8080),
  /** Node's limit for receiving a whole request (headers and body), ms; 0 = none. Large STOWs need time. */
  requestTimeoutMs: z.number().int().min(0).default(30 * 60_000),
  /** How long an idle keep-alive connection stays open, ms. */
  keepAliveTimeoutMs: z.number().int().positive().default(65_000),
});

export const upstreamSchema = z.strictObject({
  /** DICOMweb base URL of the clinical PACS (QIDO-RS, WADO-RS and STOW-RS are below it, PS3.18 8.2). */
  url: httpUrl('the clinical PACS DICOMweb root'),
  /** Extra headers sent with every upstream request, e.g. { Authorization: "Bearer ..." }. Never logged. */
  headers: z.record(z.string(), z.string()).default({}),
  /** HTTP basic authentication towards the upstream. */
  basicAuth: z.strictObject({ username: z.string().min(1), password: z.string() }).optional(),
  /** Give up connecting after this long, ms (answer 504). */
  connectTimeoutMs: z.number().int().positive().default(5_000),
  /** Give up waiting for the response headers of a query or retrieve after this long, ms (answer 504). */
  headersTimeoutMs: z.number().int().positive().default(60_000),
  /** Longest pause between two chunks of a response body, ms (the relayed response is then cut). */
  bodyTimeoutMs: z.number().int().positive().default(300_000),
  /** Give up waiting for the answer to a STOW-RS request after the body was sent, ms (answer 504). */
  stowTimeoutMs: z.number().int().positive().default(30 * 60_000),
  /** Most simultaneous connections to the upstream. */
  connections: z.number().int().min(1).max(1024).default(64),
  /**
   * Send Forwarded (RFC 7239) and X-Forwarded-* headers, so that URLs the upstream writes into its answers
   * (RetrieveURL, BulkDataURI) point at the gateway. Needs the same DICOMweb path on both, e.g. /dicom-web.
   */
  forwardedHeaders: z.boolean().default(true),
  /**
   * What the gateway does with a `transfer-syntax` parameter on the Content-Type of a STOW-RS part
   * (PS3.18 8.7.3.5.2). 'strip' removes it before forwarding: the instance's File Meta Information
   * (0002,0010) states the same transfer syntax, and Orthanc's DICOMweb plugin 1.7 rejects parts that carry
   * it. 'keep' forwards the part headers byte for byte.
   */
  stowPartTransferSyntax: z.enum(['strip', 'keep']).default('strip'),
});

export const stowSchema = z.strictObject({
  /** Largest STOW-RS request body, bytes (answer 413). */
  maxBodyBytes: bytes.default(8 * GiB),
  /** Largest header block of one part, bytes. */
  maxPartHeaderBytes: bytes.default(16 * 1024),
  /** Copy the instances the PACS accepted into the research pipeline (the STOW tap). */
  tap: z.boolean().default(true),
  /**
   * Longest wait for the research pipeline to spool the instances of one STOW before the client gets the PACS's
   * answer anyway, ms. Normally the spool write takes milliseconds; this only bounds a stuck research disk.
   */
  tapTimeoutMs: z.number().int().positive().default(60_000),
  /** Largest STOW-RS response the gateway reads from the upstream to learn which instances it stored. */
  maxUpstreamResponseBytes: bytes.default(64 * MiB),
});

export const deidEndpointSchema = z.strictObject({
  /** Offer POST /deid/dicom-web/studies: STOW-RS into the research pipeline only, not stored clinically. */
  enabled: z.boolean().default(true),
  /** Largest request body, bytes (answer 413). */
  maxBodyBytes: bytes.default(8 * GiB),
  /** Largest single instance, bytes: each instance is held in memory while it is spooled (a larger part fails, 0xA700). */
  maxInstanceBytes: bytes.max(2 * GiB).default(1 * GiB),
});

/**
 * Input limits: what one request or instance may make the gateway and the PACS do (docs/INPUT-LIMITS.md). The
 * clinical relay refuses a STOW-RS past one of them (413) before the PACS has the whole body, the
 * de-identify-only endpoint fails the instance or the request, and the research path quarantines.
 */
export const limitsSchema = z.strictObject({
  /** Largest size a Deflated Explicit VR Little Endian data set may inflate to, bytes. */
  maxInflatedBytes: bytes.max(2 * GiB).default(DEFAULT_INPUT_LIMITS.maxInflatedBytes),
  /**
   * Deepest nesting of sequences in an instance (a top-level sequence is level 1). At most 40: Orthanc 1.10 with
   * DICOMweb 1.7 crashes at 46 levels (measured, docs/INPUT-LIMITS.md).
   */
  maxSequenceDepth: z.number().int().min(1).max(40).default(DEFAULT_INPUT_LIMITS.maxSequenceDepth),
  /** Most data elements in one instance, those in sequence items included. */
  maxElements: z.number().int().positive().default(DEFAULT_INPUT_LIMITS.maxElements),
  /** Most parts in one multipart STOW-RS request (each is a temporary file while the request is relayed). */
  maxParts: z.number().int().positive().default(2_000),
  /** Largest total of all part header blocks of one request, bytes (each block: stow.maxPartHeaderBytes). */
  maxPartHeadersBytes: bytes.default(1 * MiB),
  /** Node's limit on the HTTP request line and headers (http.createServer maxHeaderSize), bytes (431 beyond). */
  maxHttpHeaderBytes: z.number().int().min(1024).max(1 * MiB).default(16 * 1024),
});

export const forwardingSchema = z.strictObject({
  /** Retry policy for forwarding to research destinations (see retry-policy.ts). */
  retry: retryPolicySchema.default(retryPolicySchema.parse({})),
  /** Batches forwarded at the same time. */
  concurrency: z.number().int().min(1).max(64).default(2),
  /** How often the queue is polled when idle, ms. */
  pollMs: z.number().int().positive().default(1_000),
  /** How long a claimed batch stays leased to this node, ms. */
  leaseMs: z.number().int().positive().default(10 * 60_000),
  /** Stable name of this node in the queue's leases; default: the host name. */
  nodeId: z.string().min(1).max(128).optional(),
});

export const authSchema = z
  .strictObject({
    /**
     * off: no client authentication; Authorization is relayed to the PACS unchanged. optional: clients may
     * authenticate (routing rules can tell them apart); required: every request but /healthz must.
     */
    mode: z.enum(['off', 'optional', 'required']).default('off'),
    /** Clients by name (the name routing rules match with `client:`). */
    clients: z
      .record(
        z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a client name is letters, digits, ".", "_" or "-"'),
        z.strictObject({
          /** SHA-256 of the client's secret token, 64 hex digits (printf %s "$TOKEN" | sha256sum). */
          tokenSha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected the SHA-256 of the token: 64 hex digits (printf %s "$TOKEN" | sha256sum)'),
        }),
      )
      .default({}),
  })
  .refine((a) => a.mode === 'off' || Object.keys(a.clients).length > 0, { message: 'auth.mode needs at least one entry under auth.clients', path: ['clients'] });

export const loggingSchema = z.strictObject({
  /** pino level: fatal, error, warn, info, debug, trace, silent. ANOFAIR_LOG_LEVEL overrides it. */
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export const metricsSchema = z.strictObject({
  /** Serve Prometheus metrics at GET /metrics. */
  enabled: z.boolean().default(true),
});

export const gatewayConfigSchema = z.strictObject({
  /** Version of this file's format. */
  version: z.literal(1).default(1),
  server: serverSchema.default(serverSchema.parse({})),
  upstream: upstreamSchema,
  stow: stowSchema.default(stowSchema.parse({})),
  deidEndpoint: deidEndpointSchema.default(deidEndpointSchema.parse({})),
  limits: limitsSchema.default(limitsSchema.parse({})),
  /** Folder for the spool, the queue and state (SQLite), and temporary files. Created at start. */
  data: z.string().min(1).default('./anofair-data'),
  /** Routing rules file (YAML); absent: the embedded default rules (config/rules.default.yaml). */
  rules: z.string().min(1).optional(),
  /** Research archives by name; routing rules refer to these names. */
  destinations: destinationsSchema.default({}),
  /** De-identification settings shared with `anofair deidentify` (see config/deidentification.example.yaml). */
  deidentification: deidSettingsSchema.default(deidSettingsSchema.parse({})),
  forwarding: forwardingSchema.default(forwardingSchema.parse({})),
  auth: authSchema.default(authSchema.parse({})),
  logging: loggingSchema.default(loggingSchema.parse({})),
  metrics: metricsSchema.default(metricsSchema.parse({})),
});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;

/**
 * Keys people write from habit (other gateways, older drafts) and where they belong now: an unknown key that
 * matches one of these gets a hint naming the right place.
 */
export const RENAMED_KEYS: Readonly<Record<string, string>> = {
  port: 'server.port',
  host: 'server.host',
  listen: 'server.host and server.port',
  upstreamUrl: 'upstream.url',
  pacs: 'upstream',
  pacsUrl: 'upstream.url',
  dicomweb: 'upstream.url',
  archive: 'destinations.research.url',
  archives: 'destinations',
  research: 'destinations.research',
  dataDir: 'data',
  dataDirectory: 'data',
  spool: 'data',
  spoolDir: 'data',
  rulesFile: 'rules',
  routing: 'rules',
  deid: 'deidentification',
  anonymization: 'deidentification',
  anonymisation: 'deidentification',
  retry: 'forwarding.retry',
  logLevel: 'logging.level',
  maxBodySize: 'stow.maxBodyBytes',
  maxBodyBytes: 'stow.maxBodyBytes or deidEndpoint.maxBodyBytes',
  clients: 'auth.clients',
  authentication: 'auth.mode',
  timeout: 'upstream.headersTimeoutMs',
  timeoutMs: 'upstream.headersTimeoutMs',
  executionProviders: 'deidentification.pixels.runtime.executionProviders',
  // which instances reach the pixel step is the routing rules' decision, not a second list in the pixel settings
  modalities: "a routing rule's when: conditions (Modality)",
  bodyParts: "a routing rule's when: conditions (BodyPartExamined)",
};
