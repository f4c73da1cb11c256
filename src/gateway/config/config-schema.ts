import { z } from 'zod';
import { exportsSchema } from '../exports/export-job-schema.js';
import { DEFAULT_INPUT_LIMITS } from '../../dicom/input-limits.js';
import { deidSettingsSchema } from '../../anonymizer/settings/deid-settings-schema.js';
import { destinationsSchema } from '../forwarding/destination.js';
import { retryPolicySchema } from '../forwarding/retry-policy.js';
import { clientTlsSchema, serverTlsSchema } from '../tls/tls-config.js';
import { SCOPES } from '../access/scopes.js';
import { isLoopbackHost } from '../access/host-allow-list.js';
import { auditSchema } from '../audit/audit-config.js';

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
  /**
   * Longest time to receive a request's line and headers, ms (408 beyond; slowloris). Real clients send them in
   * one packet; capped at requestTimeoutMs.
   */
  headersTimeoutMs: z.number().int().min(1_000).default(20_000),
  /**
   * A connection with no byte in either direction for this long is closed, ms; 0 = never. Longer than any
   * silence the gateway itself accepts from the PACS on a relayed query or retrieve (upstream.headersTimeoutMs,
   * upstream.bodyTimeoutMs), so it cuts a client that stops reading its answer; a STOW-RS waiting for the
   * PACS's answer is exempt (upstream.stowTimeoutMs bounds that).
   */
  socketIdleTimeoutMs: z.number().int().min(0).default(6 * 60_000),
  /**
   * Slowest accepted STOW-RS upload, bytes/s averaged over uploadRateWindowMs (408 UPLOAD_TOO_SLOW beyond, and
   * the upstream request is aborted); 0 = not checked. 8 KiB/s is 64 kbit/s: any real uplink passes, even shared.
   */
  minUploadBytesPerSecond: z.number().int().min(0).default(8 * 1024),
  /** The window minUploadBytesPerSecond is averaged over, ms; an upload's first window is not judged. */
  uploadRateWindowMs: z.number().int().min(100).default(30_000),
  /**
   * Longest time without a byte of a STOW-RS body, ms (408 UPLOAD_TOO_SLOW, upstream request aborted); 0 = not
   * checked. Below Orthanc's HttpRequestTimeout (30 s), which ends a silent body itself with a bare 400.
   */
  bodyIdleTimeoutMs: z.number().int().min(0).default(20_000),
  /** HTTPS: the certificate and key (reloaded on SIGHUP and when the files change), optionally mutual TLS. */
  tls: serverTlsSchema.optional(),
  /**
   * Host header values the gateway answers for (names or addresses, "*.example.org" for a domain); others get
   * 421. Default: the listen address, and for 0.0.0.0 this machine's name and addresses; loopback names always.
   */
  allowedHosts: z.array(z.string().min(1)).min(1).optional(),
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
  /**
   * Most simultaneous connections to the upstream. Below Orthanc's default of 50 HTTP threads, so that however
   * busy the gateway is, the PACS keeps workers for its own direct clients; requests beyond wait in the gateway.
   */
  connections: z.number().int().min(1).max(1024).default(40),
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
  /** TLS for an https URL: the CA to trust, a client certificate for mutual TLS, the name to verify. */
  tls: clientTlsSchema.optional(),
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
  /**
   * STOW-RS uploads in progress at once, all clients together (503 BUSY beyond); the clinical relay and the
   * de-identify-only endpoint count separately. Each clinical upload holds one PACS HTTP worker while its body
   * arrives: 20 of Orthanc's default 50 (HttpThreadsCount) leaves 30 for queries, retrieves and other clients.
   */
  maxConcurrentRequests: z.number().int().min(1).default(20),
  /**
   * STOW-RS uploads in progress at once from one client (429 THROTTLED beyond): the authenticated name, else
   * the peer address. Behind a reverse proxy every client has the proxy's address: authenticate, or raise this.
   */
  maxConcurrentPerClient: z.number().int().min(1).default(4),
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

const scopeSchema = z.enum(SCOPES, { error: `expected a scope: ${SCOPES.join(', ')}` });

export const oidcSchema = z.strictObject({
  /** The issuer (iss) tokens must name, e.g. https://login.example.org/realms/hospital. */
  issuer: httpUrl('the OIDC issuer'),
  /** Where the issuer publishes its signing keys; absent: read from <issuer>/.well-known/openid-configuration. */
  jwksUri: httpUrl('the issuer JWKS').optional(),
  /** The audience (aud) tokens must be issued for: this gateway's client id at the issuer. */
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  /** Dotted path of the claim holding the scopes: scope (space-separated), scp, roles, realm_access.roles ... */
  scopeClaim: z.string().min(1).default('scope'),
  /** Claim values are <prefix><scope> (e.g. "anofair:clinical"); values without it are ignored. */
  scopePrefix: z.string().default(''),
  /** Claim that names the caller in routing rules (client:) and the audit trail. */
  nameClaim: z.string().min(1).default('sub'),
  /** Signature algorithms accepted (never "none"). */
  algorithms: z.array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'])).min(1).default(['RS256', 'PS256', 'ES256', 'EdDSA']),
  /** Clock skew tolerated on exp and nbf, seconds. */
  clockToleranceS: z.number().int().min(0).max(300).default(30),
});

export const authSchema = z
  .strictObject({
    /**
     * required (default): every request but /healthz carries a credential with the scope its route needs.
     * optional: requests without credentials get auth.anonymousScopes; off: nothing is checked and
     * Authorization is relayed to the PACS unchanged. Other than required is refused on a non-loopback
     * listener unless auth.allowUnauthenticatedNetwork is true.
     */
    mode: z.enum(['off', 'optional', 'required']).default('required'),
    /** Scopes of requests without credentials in mode optional. */
    anonymousScopes: z.array(scopeSchema).default(['clinical', 'research-ingest']),
    /** Listen on a non-loopback address with auth.mode off or optional (anyone on the network gets those scopes). */
    allowUnauthenticatedNetwork: z.boolean().default(false),
    /**
     * Clients with a fixed token in this file (for deployments managed as configuration); API tokens made with
     * `anofair token create` live in <data>/tokens.sqlite and can expire and be revoked without a restart.
     */
    clients: z
      .record(
        z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a client name is letters, digits, ".", "_" or "-"'),
        z.strictObject({
          /** SHA-256 of the client's secret token, 64 hex digits (printf %s "$TOKEN" | sha256sum). */
          tokenSha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected the SHA-256 of the token: 64 hex digits (printf %s "$TOKEN" | sha256sum)'),
          /** What the client may do. */
          scopes: z.array(scopeSchema).min(1, `a client needs at least one scope: ${SCOPES.join(', ')}`),
        }),
      )
      .default({}),
    /** OIDC bearer tokens (JWT) from an identity provider, verified against its keys. */
    oidc: oidcSchema.optional(),
    /**
     * Relay the client's Authorization header to the PACS on /dicom-web after the gateway checked it, for a PACS
     * that authorises users itself (e.g. the same OIDC tokens). Off: the gateway's own credentials only.
     */
    passCredentialsToPacs: z.boolean().default(false),
    /** Failed authentications from one address before it is refused for a while (429), and audited. */
    throttle: z
      .strictObject({
        maxFailures: z.number().int().min(1).default(10),
        windowMs: z.number().int().positive().default(60_000),
        blockMs: z.number().int().positive().default(300_000),
      })
      .default({ maxFailures: 10, windowMs: 60_000, blockMs: 300_000 }),
  });

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
  /** The audit trail's export to an IHE ATNA audit record repository (syslog); the trail itself is always kept. */
  audit: auditSchema.default(auditSchema.parse({})),
  /** Export jobs by name: scheduled pulls from the PACS through the research path (docs/EXPORTS.md). */
  exports: exportsSchema,
}).superRefine((c, ctx) => {
  if (Object.keys(c.exports).length > 0 && Object.keys(c.destinations).length === 0) {
    ctx.addIssue({ code: 'custom', path: ['exports'], message: 'export jobs need at least one destination (destinations:) for their rules to send to' });
  }
  // a gateway on the network without credentials gives anyone who can reach it the clinical PACS and the
  // research UIDs of any instance: only when asked for in so many words
  if (c.auth.mode !== 'required' && !c.auth.allowUnauthenticatedNetwork && !isLoopbackHost(c.server.host)) {
    ctx.addIssue({
      code: 'custom',
      path: ['auth', 'mode'],
      message: `refusing to listen on ${c.server.host} with auth.mode ${c.auth.mode}: anyone on the network could use the clinical proxy and the research API; use auth.mode: required (the default), listen on 127.0.0.1, or set auth.allowUnauthenticatedNetwork: true`,
    });
  }
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
