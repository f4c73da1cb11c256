import { z } from 'zod';

/**
 * The TLS settings of the gateway's listener (server.tls) and of its clients (upstream.tls,
 * destinations.<name>.tls). Files are PEM; relative paths are relative to the configuration file.
 */

const pemFile = (what: string) => z.string().min(1, `expected the path of ${what}`);

export const serverTlsSchema = z
  .strictObject({
    /** The gateway's certificate (PEM; intermediate certificates may follow it in the same file). */
    certFile: pemFile('the PEM certificate file'),
    /** The certificate's private key (PEM, unencrypted). */
    keyFile: pemFile('the PEM private key file'),
    /** CA bundle (PEM) that client certificates must chain to; needed by requestClientCert. */
    caFile: pemFile('the PEM CA bundle').optional(),
    /** Mutual TLS: refuse, during the handshake, every client without a certificate signed by caFile. */
    requestClientCert: z.boolean().default(false),
    /** How often the files' modification times are checked, ms; a change reloads them. 0: only on SIGHUP. */
    reloadIntervalMs: z.number().int().min(0).default(60_000),
  })
  .refine((t) => !t.requestClientCert || t.caFile !== undefined, {
    message: 'requestClientCert needs caFile: the CA bundle client certificates are checked against',
    path: ['caFile'],
  });

export const clientTlsSchema = z
  .strictObject({
    /** CA bundle (PEM) the server's certificate must chain to; default: Node's built-in public CAs. */
    caFile: pemFile('the PEM CA bundle').optional(),
    /** Client certificate (PEM) for mutual TLS; goes with keyFile. */
    certFile: pemFile('the PEM client certificate file').optional(),
    /** The client certificate's private key (PEM, unencrypted); goes with certFile. */
    keyFile: pemFile('the PEM private key file').optional(),
    /** Name the server's certificate is checked against (and sent as SNI) instead of the URL's host. */
    servername: z.string().min(1).optional(),
    /** false accepts any certificate: the connection is encrypted but not authenticated. Logged at start. */
    rejectUnauthorized: z.boolean().default(true),
  })
  .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), {
    message: 'certFile and keyFile go together: a client certificate needs its private key',
    path: ['keyFile'],
  });

export type ServerTlsConfig = z.infer<typeof serverTlsSchema>;
export type ClientTlsConfig = z.infer<typeof clientTlsSchema>;
