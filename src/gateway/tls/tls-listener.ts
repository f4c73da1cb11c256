import { X509Certificate } from 'node:crypto';
import { statSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { AnofairError, describeError } from '../../errors/anofair-error.js';
import type { Logger } from '../../observability/logger.js';
import type { ServerTlsConfig } from './tls-config.js';
import { readPemFile, tlsReason } from './pem-file.js';

export interface ListenerOptions {
  /** server.tls; absent: plain HTTP. */
  tls?: ServerTlsConfig;
  /** Socket buffer size (http.createServer highWaterMark). */
  highWaterMark: number;
  /** Longest request line and headers, bytes (http.createServer maxHeaderSize). */
  maxHeaderSize: number;
  logger: Logger;
}

/** The server the gateway listens with, and the certificate reload around it. */
export interface GatewayListener {
  readonly server: HttpServer | HttpsServer;
  readonly protocol: 'http' | 'https';
  /**
   * Read server.tls's files again and use them for new connections (connections already open keep theirs).
   * False, with a warning logged, when the new files are refused (the previous certificate stays) or TLS is off.
   */
  reload(): boolean;
  /** Stop watching the files and SIGHUP; closing the server is its owner's part. */
  close(): void;
}

/**
 * server.tls's files as secure context options, tried in a secure context first: a missing file, a non-PEM
 * file or a key that does not match the certificate is CONFIG_INVALID naming the setting and the file.
 */
export function readServerTls(tls: ServerTlsConfig): SecureContextOptions {
  const material: SecureContextOptions = {
    cert: readPemFile('server.tls.certFile', tls.certFile),
    key: readPemFile('server.tls.keyFile', tls.keyFile),
    ...(tls.caFile ? { ca: readPemFile('server.tls.caFile', tls.caFile) } : {}),
  };
  try {
    createSecureContext(material);
  } catch (err) {
    throw new AnofairError('CONFIG_INVALID', `server.tls: the certificate and key cannot be used together (${tlsReason(err)}): ${tls.certFile}, ${tls.keyFile}`, { setting: 'server.tls' });
  }
  return material;
}

function certificateSummary(material: SecureContextOptions): { fingerprint256?: string; validTo?: string } {
  try {
    const cert = new X509Certificate(material.cert as Buffer);
    return { fingerprint256: cert.fingerprint256, validTo: cert.validTo };
  } catch {
    return {};
  }
}

/** What identifies a file's current content without reading it: a replaced or rewritten file changes it. */
function fileStamp(path: string): string {
  try {
    const s = statSync(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch (err) {
    return `missing:${(err as NodeJS.ErrnoException).code}`;
  }
}

/**
 * The gateway's HTTP or HTTPS server for `app`. With TLS the certificate and key are reloaded without a restart
 * (for certificates renewed every few weeks): on SIGHUP, when the files' stamps change (checked every
 * reloadIntervalMs), and on reload(). A new pair that cannot be used is refused and the old one stays.
 */
export function createListener(app: RequestListener, options: ListenerOptions): GatewayListener {
  const { tls, logger } = options;
  // Node checks requestTimeout and headersTimeout on this interval; its default (30 s) would let a slowloris
  // keep its socket up to 30 s past the headers timeout
  const base = { highWaterMark: options.highWaterMark, maxHeaderSize: options.maxHeaderSize, connectionsCheckingInterval: 1_000 };
  if (!tls) {
    return { server: createHttpServer(base, app), protocol: 'http', reload: () => false, close: () => undefined };
  }
  const material = readServerTls(tls);
  // requestClientCert: the handshake itself refuses a client without a certificate from caFile.
  const server = createHttpsServer({ ...base, ...material, requestCert: tls.requestClientCert, rejectUnauthorized: tls.requestClientCert }, app);
  logger.info({ certFile: tls.certFile, mutualTls: tls.requestClientCert, ...certificateSummary(material) }, 'TLS listener certificate loaded');

  const files = [tls.certFile, tls.keyFile, ...(tls.caFile ? [tls.caFile] : [])];
  let stamps = files.map(fileStamp);
  const reload = (): boolean => {
    stamps = files.map(fileStamp);
    let next: SecureContextOptions;
    try {
      next = readServerTls(tls);
    } catch (err) {
      logger.warn({ reason: describeError(err) }, 'TLS certificate reload refused; the previous certificate stays in use');
      return false;
    }
    server.setSecureContext(next);
    logger.info({ certFile: tls.certFile, ...certificateSummary(next) }, 'TLS certificate reloaded');
    return true;
  };
  const onHangup = (): void => {
    logger.info('SIGHUP: reloading the TLS certificate');
    reload();
  };
  process.on('SIGHUP', onHangup);
  const timer =
    tls.reloadIntervalMs > 0
      ? setInterval(() => {
          const now = files.map(fileStamp);
          if (now.some((s, i) => s !== stamps[i])) reload();
        }, tls.reloadIntervalMs).unref()
      : undefined;
  return {
    server,
    protocol: 'https',
    reload,
    close() {
      if (timer) clearInterval(timer);
      process.off('SIGHUP', onHangup);
    },
  };
}
