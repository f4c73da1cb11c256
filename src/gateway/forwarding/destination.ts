import { z } from 'zod';
import { clientTlsSchema } from '../tls/tls-config.js';

/**
 * A research archive the gateway forwards to with STOW-RS. The gateway's configuration schema embeds
 * this one under `destinations: { <name>: ... }`; names are what routing rules refer to.
 */
export const destinationSchema = z.strictObject({
  /** DICOMweb base URL (the STOW-RS endpoint is <url>/studies, PS3.18 10.5). */
  url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL of the archive\'s DICOMweb root, e.g. https://archive.example/dicom-web' }),
  /** Extra request headers, e.g. { Authorization: "Bearer ..." }. Never logged. */
  headers: z.record(z.string(), z.string()).default({}),
  /** HTTP basic authentication. */
  basicAuth: z.strictObject({ username: z.string().min(1), password: z.string() }).optional(),
  /** Most instances per STOW-RS request (instances of one study are sent together). */
  maxBatchInstances: z.number().int().min(1).max(1000).default(20),
  /** Give up on one request after this long, ms (then the destination counts as unavailable). */
  timeoutMs: z.number().int().positive().default(120_000),
  /** 'chunked' streams the request body; 'buffered' sends Content-Length, for servers that need it. */
  transfer: z.enum(['chunked', 'buffered']).default('chunked'),
  /** TLS for an https URL: the CA to trust, a client certificate for mutual TLS, the name to verify. */
  tls: clientTlsSchema.optional(),
});

export type DestinationConfig = z.infer<typeof destinationSchema>;

export const destinationsSchema = z.record(
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a destination name is letters, digits, ".", "_" or "-"'),
  destinationSchema,
);

/** The STOW-RS endpoint of a destination: <base>/studies (the base may or may not end with "/"). */
export function stowUrl(destination: Pick<DestinationConfig, 'url'>): string {
  return `${destination.url.replace(/\/+$/, '')}/studies`;
}
