import type { Logger } from '../../observability/logger.js';
import type { GatewayConfig } from '../config/config-schema.js';
import { destinationDispatcher } from '../forwarding/stow-client.js';
import type { ClientTlsConfig } from './tls-config.js';
import { readServerTls } from './tls-listener.js';

/**
 * Read every TLS file the configuration names (the listener's, and each destination's into its dispatcher; the
 * upstream client reads upstream.tls itself) once, at start: a missing or unusable PEM file fails the start with
 * CONFIG_INVALID rather than the first connection. Settings that weaken or do nothing are logged as warnings.
 */
export function checkTlsSettings(config: Readonly<GatewayConfig>, logger: Logger): void {
  if (config.server.tls) readServerTls(config.server.tls);
  for (const [name, destination] of Object.entries(config.destinations)) destinationDispatcher(name, destination);
  const clients: Array<{ setting: string; url: string; tls?: ClientTlsConfig }> = [
    { setting: 'upstream.tls', url: config.upstream.url, tls: config.upstream.tls },
    ...Object.entries(config.destinations).map(([name, d]) => ({ setting: `destinations.${name}.tls`, url: d.url, tls: d.tls })),
  ];
  for (const { setting, url, tls } of clients) {
    if (!tls) continue;
    if (tls.rejectUnauthorized === false) {
      logger.warn({ setting }, `${setting}.rejectUnauthorized is false: the server's certificate is not checked, so the connection is encrypted but anyone on the path can pose as the server`);
    }
    if (!url.startsWith('https:')) logger.warn({ setting }, `${setting} is set but the URL is http: it has no effect`);
  }
}
