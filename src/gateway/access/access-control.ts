import { timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { Counter, Registry } from 'prom-client';
import { Counter as PromCounter } from 'prom-client';
import { AnofairError } from '../../errors/anofair-error.js';
import type { Logger } from '../../observability/logger.js';
import type { AuditSink } from '../audit/audit-event.js';
import type { GatewayConfig } from '../config/config-schema.js';
import { senderOf } from '../stow/sender.js';
import { tokenSha256, type TokenStore } from './api-tokens.js';
import { AuthThrottle } from './auth-throttle.js';
import type { HostAllowList } from './host-allow-list.js';
import { looksLikeJwt, type OidcVerifier } from './oidc-verifier.js';
import { SCOPES, type Principal, type Scope } from './scopes.js';

/**
 * Access control for every route but /healthz, in three steps the HTTP application mounts in order:
 * the Host check (host header injection), authentication (an API token, a token from the configuration or an
 * OIDC bearer token; failures throttled per address and audited) and, per route family, the scope check.
 * The client's credentials are the gateway's, not the PACS's: once checked they are removed, so that they are
 * never relayed upstream, unless auth.passCredentialsToPacs says the PACS checks them too.
 */

export interface AccessControlOptions {
  auth: GatewayConfig['auth'];
  /** API tokens (anofair token create); absent where auth is off. */
  tokens?: TokenStore;
  oidc?: OidcVerifier;
  hosts: HostAllowList;
  audit: AuditSink;
  logger: Logger;
  registry: Registry;
}

/** Paths that answer without credentials and for any Host: liveness probes. */
const OPEN_PATHS = new Set(['/healthz']);

type Failure = 'missing' | 'unknown' | 'expired' | 'revoked' | 'invalid' | 'scheme';

const FAILURE_MESSAGE: Readonly<Record<Failure, string>> = {
  missing: 'this gateway needs credentials: Authorization: Bearer <token> or Basic <client:token>',
  unknown: 'the credentials were refused',
  revoked: 'the credentials were refused',
  invalid: 'the token was refused (signature, issuer, audience or claims)',
  expired: 'the token has expired',
  scheme: 'the Authorization scheme is not supported: use Bearer <token> or Basic <client:token>',
};

export function principalOf(res: Response): Principal | undefined {
  return res.locals.principal as Principal | undefined;
}

export class AccessControl {
  private readonly throttle: AuthThrottle;
  private readonly missingAudited: AuthThrottle;
  private readonly configClients: { name: string; digest: Buffer; scopes: ReadonlySet<Scope> }[];
  private readonly refusals: Counter<'reason'>;

  constructor(private readonly o: AccessControlOptions) {
    this.throttle = new AuthThrottle({ ...o.auth.throttle, maxTracked: 10_000 });
    // "blocks" after the first failure for a minute: fail() answers true once per address and minute
    this.missingAudited = new AuthThrottle({ maxFailures: 1, windowMs: 60_000, blockMs: 60_000, maxTracked: 10_000 });
    this.configClients = Object.entries(o.auth.clients).map(([name, c]) => ({ name, digest: Buffer.from(c.tokenSha256, 'hex'), scopes: new Set(c.scopes) }));
    const existing = o.registry.getSingleMetric('anofair_auth_refusals_total') as Counter<'reason'> | undefined;
    this.refusals =
      existing ??
      new PromCounter({ name: 'anofair_auth_refusals_total', help: 'Requests refused by access control, by reason', labelNames: ['reason'], registers: [o.registry] });
  }

  /** 421 for a Host header the gateway does not answer for (before credentials are looked at). */
  hostCheck(): RequestHandler {
    return (req, _res, next) => {
      if (OPEN_PATHS.has(req.path) || this.o.hosts.allows(req.headers.host)) {
        next();
        return;
      }
      this.refusals.inc({ reason: 'host' });
      next(new AnofairError('HOST_NOT_ALLOWED', 'this gateway does not answer for the host named in the Host header; see server.allowedHosts'));
    };
  }

  /** Sets res.locals.principal (and res.locals.client for the routing rules) or answers 401/429/503. */
  authenticate(): RequestHandler {
    const { auth } = this.o;
    return (req, res, next) => {
      if (OPEN_PATHS.has(req.path)) {
        next();
        return;
      }
      if (auth.mode === 'off') {
        res.locals.principal = { name: 'anonymous', credential: 'none', scopes: new Set(SCOPES) } satisfies Principal;
        next();
        return;
      }
      const address = senderOf(req, res).address ?? 'unknown';
      const verdict = this.throttle.check(address);
      if (verdict.blocked) {
        this.refusals.inc({ reason: 'throttled' });
        next(new AnofairError('THROTTLED', `too many failed authentications from this address; retry in ${verdict.retryAfterS} s`, { retryAfterS: verdict.retryAfterS }));
        return;
      }
      this.identify(req)
        .then((found) => {
          if (found === undefined) {
            if (auth.mode === 'optional' && !req.headers.authorization) {
              res.locals.principal = { name: 'anonymous', credential: 'none', scopes: new Set(auth.anonymousScopes) } satisfies Principal;
              next();
              return;
            }
            this.refuse(req, address, 'missing', next);
            return;
          }
          if ('failure' in found) {
            this.refuse(req, address, found.failure, next);
            return;
          }
          res.locals.principal = found;
          res.locals.client = found.name;
          if (!auth.passCredentialsToPacs) delete req.headers.authorization;
          next();
        })
        .catch(next);
    };
  }

  /** The scope check for one route family: 403 with the scope it needs, audited. */
  requireScope(scopes: readonly Scope[] | ((req: Request) => readonly Scope[])): RequestHandler {
    return (req, res, next) => {
      const principal = principalOf(res);
      const needed = typeof scopes === 'function' ? scopes(req) : scopes;
      const missing = needed.filter((s) => !principal?.scopes.has(s));
      if (principal && missing.length === 0) {
        next();
        return;
      }
      this.refusals.inc({ reason: 'scope' });
      this.o.audit.record({
        type: 'access-denied',
        outcome: 'failure',
        actor: principal?.name,
        credential: principal?.credential,
        address: senderOf(req, res).address,
        method: req.method,
        route: req.baseUrl || '/',
        status: 403,
        detail: { needs: missing.join(' ') },
      });
      next(new AnofairError('FORBIDDEN', `these credentials do not carry the scope ${missing.join(' and ')} that ${req.baseUrl || 'this resource'} needs`, { scope: missing.join(' ') }));
    };
  }

  private refuse(req: Request, address: string, failure: Failure, next: (err: unknown) => void): void {
    this.refusals.inc({ reason: failure });
    const base = { actor: undefined, address, method: req.method, route: routeFamily(req.path) };
    if (failure === 'missing') {
      // a request without credentials guesses nothing: not throttled, and audited once a minute per address
      // (a client's first request before its challenge is normal; a flood of them must not flood the trail)
      if (this.missingAudited.fail(address)) this.o.audit.record({ type: 'auth-failure', outcome: 'failure', credential: 'none', status: 401, detail: { reason: failure }, ...base });
      next(new AnofairError('UNAUTHORIZED', FAILURE_MESSAGE[failure]));
      return;
    }
    const blockedNow = this.throttle.fail(address);
    this.o.audit.record({ type: 'auth-failure', outcome: 'failure', credential: 'none', status: 401, detail: { reason: failure }, ...base });
    if (blockedNow) {
      this.o.audit.record({ type: 'auth-throttled', outcome: 'failure', status: 429, detail: { failures: this.o.auth.throttle.maxFailures, blockS: Math.round(this.o.auth.throttle.blockMs / 1000) }, ...base });
      this.o.logger.warn({ address, blockMs: this.o.auth.throttle.blockMs }, 'authentication failures from one address: blocked for a while');
    }
    next(new AnofairError('UNAUTHORIZED', FAILURE_MESSAGE[failure], failure === 'scheme' ? undefined : { invalidToken: true }));
  }

  /** The principal a request's Authorization header proves, a failure, or undefined for none sent. */
  private async identify(req: Request): Promise<Principal | { failure: Failure } | undefined> {
    const header = req.headers.authorization;
    if (!header) return undefined;
    const space = header.indexOf(' ');
    const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
    const value = space === -1 ? '' : header.slice(space + 1).trim();
    if (scheme === 'bearer') {
      if (value === '') return { failure: 'unknown' };
      if (looksLikeJwt(value) && this.o.oidc) {
        const checked = await this.o.oidc.verify(value);
        if (checked.ok) return { name: checked.name, credential: 'oidc', scopes: checked.scopes };
        if (checked.reason === 'unavailable') {
          this.o.logger.warn('OIDC token not verifiable: the issuer keys cannot be fetched');
          throw new AnofairError('AUTH_UNAVAILABLE', 'the token cannot be checked now: the identity provider cannot be reached');
        }
        return { failure: checked.reason };
      }
      return this.byToken(value);
    }
    if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon <= 0) return { failure: 'unknown' };
      const found = this.byToken(decoded.slice(colon + 1));
      // the name is part of the credential: a token presented under another name is refused
      if ('failure' in found) return found;
      return found.name === decoded.slice(0, colon) ? found : { failure: 'unknown' };
    }
    return { failure: 'scheme' };
  }

  private byToken(token: string): Principal | { failure: Failure } {
    if (this.o.tokens) {
      const checked = this.o.tokens.check(token);
      if (checked.ok) return { name: checked.token.name, credential: 'api-token', scopes: new Set(checked.token.scopes), tokenId: checked.token.id };
      if (checked.reason !== 'unknown') return { failure: checked.reason };
    }
    const digest = Buffer.from(tokenSha256(token), 'hex');
    let found: (typeof this.configClients)[number] | undefined;
    for (const c of this.configClients) if (timingSafeEqual(c.digest, digest)) found = c; // no early exit
    return found ? { name: found.name, credential: 'config-token', scopes: found.scopes } : { failure: 'unknown' };
  }
}

/** The route family of a path, for the audit trail: never the rest of the path or its query. */
export function routeFamily(path: string): string {
  const p = path.toLowerCase();
  for (const family of ['/deid/dicom-web', '/dicom-web', '/api/rules', '/api/quarantine', '/api/queue', '/api', '/metrics', '/status']) {
    if (p === family || p.startsWith(`${family}/`)) return family;
  }
  return '(other)';
}
