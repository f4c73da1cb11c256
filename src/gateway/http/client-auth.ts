import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AnofairError } from '../../errors/anofair-error.js';
import type { GatewayConfig } from '../config/config-schema.js';

/** SHA-256 of a token, as configured in auth.clients.<name>.tokenSha256. */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Paths that answer without authentication (liveness probes). */
const OPEN_PATHS = new Set(['/healthz']);

/**
 * Client authentication for the routing rules' sender conditions (`client`, `authenticated`): a client sends
 * `Authorization: Bearer <token>` or `Basic <name:token>`; the gateway keeps only SHA-256 digests of tokens.
 * The client's credentials are the gateway's, not the PACS's: once checked they are removed, so they are never
 * relayed upstream. Wrong credentials are refused even where authentication is optional (no silent downgrade).
 * With auth.mode "off" nothing is checked and Authorization is relayed to the PACS unchanged.
 */
export function clientAuth(auth: GatewayConfig['auth']): RequestHandler {
  const clients = Object.entries(auth.clients).map(([name, c]) => ({ name, digest: Buffer.from(c.tokenSha256, 'hex') }));
  const byToken = (token: string): string | undefined => {
    const digest = tokenDigest(token);
    let found: string | undefined;
    for (const c of clients) if (timingSafeEqual(c.digest, digest)) found = c.name; // no early exit: constant time per client list
    return found;
  };
  return (req, res, next) => {
    if (auth.mode === 'off' || OPEN_PATHS.has(req.path)) {
      next();
      return;
    }
    const header = req.headers.authorization;
    if (!header) {
      if (auth.mode === 'required') next(new AnofairError('UNAUTHORIZED', 'this gateway needs credentials: Authorization: Bearer <token> or Basic <client:token>'));
      else next();
      return;
    }
    const [scheme, value = ''] = header.split(/\s+/, 2);
    let client: string | undefined;
    if (scheme?.toLowerCase() === 'bearer') {
      client = byToken(value);
    } else if (scheme?.toLowerCase() === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const name = colon === -1 ? '' : decoded.slice(0, colon);
      const match = colon === -1 ? undefined : byToken(decoded.slice(colon + 1));
      client = match === name ? match : undefined;
    }
    if (!client) {
      next(new AnofairError('UNAUTHORIZED', 'the credentials were refused'));
      return;
    }
    res.locals.client = client;
    delete req.headers.authorization;
    next();
  };
}
