import { z } from 'zod';
import { clientTlsSchema } from '../tls/tls-config.js';

/**
 * The `audit:` section of the gateway configuration. The trail itself (<data>/audit.sqlite) is always kept;
 * this section says where else its events go. config/anofair.example.yaml documents every key.
 */

/** The shared client TLS settings (caFile, certFile, keyFile, servername, rejectUnauthorized). */
const syslogTlsSchema = clientTlsSchema;

export const auditSyslogSchema = z
  .strictObject({
    /** Host name or address of the audit record repository (the syslog collector). */
    host: z.string().min(1).max(255),
    /** Its port: by convention 6514 for TLS (RFC 5425) and 514 for UDP (RFC 5426). */
    port: z.number().int().min(1).max(65535),
    /**
     * tls (RFC 5425, IHE ATNA's secure transport), tcp (the same octet-counting framing without TLS, RFC 6587) or
     * udp (RFC 5426: one message per datagram and no acknowledgement, so a message sent while the collector is
     * down is lost).
     */
    transport: z.enum(['udp', 'tcp', 'tls']).default('tls'),
    /** TLS: the CA bundle the collector's certificate must chain to, and this gateway's certificate for ATNA node authentication. */
    tls: syslogTlsSchema.optional(),
    /** APP-NAME of the syslog messages (RFC 5424 6.2.5): printable ASCII, at most 48 characters. */
    appName: z.string().regex(/^[!-~]{1,48}$/, 'expected 1 to 48 printable ASCII characters without spaces').default('anofair'),
    /** AuditSourceID of the messages (PS3.15 A.5.2); default: this machine's host name. */
    sourceId: z.string().regex(/^[A-Za-z0-9._:@/-]{1,64}$/, 'expected letters, digits and . _ : @ / -').optional(),
    /** AuditEnterpriseSiteID of the messages, e.g. the hospital's name or OID. */
    enterpriseSiteId: z.string().regex(/^[A-Za-z0-9._:@/-]{1,64}$/, 'expected letters, digits and . _ : @ / -').optional(),
    /** Most events sent in one round. */
    batch: z.number().int().min(1).max(1000).default(100),
    /** Wait after a failed send, ms, doubled after each further failure up to retryCapMs. */
    retryBaseMs: z.number().int().positive().default(1_000),
    /** Longest wait between two tries, ms. */
    retryCapMs: z.number().int().positive().default(60_000),
    /** Give up connecting (tcp, tls) after this long, ms. */
    connectTimeoutMs: z.number().int().positive().default(5_000),
  })
  .refine((s) => s.transport === 'tls' || s.tls === undefined, { message: 'tls: settings need transport: tls', path: ['tls'] });

export type AuditSyslogConfig = z.infer<typeof auditSyslogSchema>;

export const auditSchema = z.strictObject({
  /**
   * Send each event, as it is recorded, to an IHE ATNA audit record repository: a DICOM PS3.15 A.5 AuditMessage
   * in an RFC 5424 syslog message. Events recorded while it cannot be reached go once it can again.
   */
  syslog: auditSyslogSchema.optional(),
});
