import { createSecureContext, type ConnectionOptions } from 'node:tls';
import { Agent, type Dispatcher } from 'undici';
import { AnofairError } from '../../errors/anofair-error.js';
import type { ClientTlsConfig } from './tls-config.js';
import { readPemFile, tlsReason } from './pem-file.js';

/** What undici passes to tls.connect for one upstream or destination. */
export type ClientTlsOptions = Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'servername' | 'rejectUnauthorized'>;

/**
 * Read the files of a client TLS setting (`setting` is its key path, e.g. "upstream.tls") into undici connect
 * options. The pair is tried in a secure context now, so a key that does not match its certificate fails the
 * start (CONFIG_INVALID) rather than the first connection.
 */
export function clientTlsOptions(setting: string, tls: ClientTlsConfig | undefined): ClientTlsOptions {
  if (!tls) return {};
  const options: ClientTlsOptions = { rejectUnauthorized: tls.rejectUnauthorized };
  if (tls.caFile) options.ca = readPemFile(`${setting}.caFile`, tls.caFile);
  if (tls.certFile && tls.keyFile) {
    options.cert = readPemFile(`${setting}.certFile`, tls.certFile);
    options.key = readPemFile(`${setting}.keyFile`, tls.keyFile);
  }
  if (tls.servername) options.servername = tls.servername;
  try {
    createSecureContext({ ca: options.ca, cert: options.cert, key: options.key });
  } catch (err) {
    const files = [tls.caFile, tls.certFile, tls.keyFile].filter(Boolean).join(', ');
    throw new AnofairError('CONFIG_INVALID', `${setting}: the PEM files cannot be used (${tlsReason(err)}): ${files}`, { setting });
  }
  return options;
}

/** One undici Agent per client TLS setting object (the configuration is frozen, so its objects are stable). */
const agents = new WeakMap<ClientTlsConfig, Agent>();

/** The dispatcher for requests made with this TLS setting; its files are read on the first call only. */
export function tlsDispatcher(setting: string, tls: ClientTlsConfig): Dispatcher {
  let agent = agents.get(tls);
  if (!agent) {
    agent = new Agent({ connect: clientTlsOptions(setting, tls) });
    agents.set(tls, agent);
  }
  return agent;
}

/** OpenSSL's certificate verification results, as Node reports them in `err.code` (X509_V_ERR_* names). */
const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE', 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID', 'CERT_HAS_EXPIRED', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_CHAIN_TOO_LONG', 'CERT_REVOKED', 'INVALID_CA',
  'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'HOSTNAME_MISMATCH',
]);

/** Whether a Node/undici error code means the TLS handshake or the peer's certificate failed. */
export function isTlsFailure(code: string | undefined): boolean {
  return code !== undefined && (CERTIFICATE_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_'));
}
