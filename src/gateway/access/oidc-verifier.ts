import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { isScope, type Scope } from './scopes.js';

/**
 * OIDC bearer tokens (JWT access tokens, RFC 9068) verified against the issuer's published keys: signature,
 * issuer, audience, expiry and not-before, with a small clock tolerance. The keys come from the configured JWKS
 * URL or from the issuer's discovery document, and are cached and refetched by jose when a token names a key
 * it has not seen (key rotation). Scopes come from a configured claim: a space-separated string (`scope`,
 * OAuth 2.0) or an array (`roles`, Keycloak's `realm_access.roles`), optionally with a prefix.
 */

export interface OidcSettings {
  issuer: string;
  jwksUri?: string;
  audience: string | readonly string[];
  /** Dotted path of the claim holding the scopes, e.g. scope, scp, roles, realm_access.roles. */
  scopeClaim: string;
  /** Claim values are `<prefix><scope>`, e.g. anofair:clinical; others are ignored. */
  scopePrefix: string;
  /** Claim naming the caller (for routing rules and the audit trail), e.g. sub, azp, preferred_username. */
  nameClaim: string;
  algorithms: readonly string[];
  clockToleranceS: number;
}

export type OidcCheck = { ok: true; name: string; scopes: ReadonlySet<Scope> } | { ok: false; reason: 'expired' | 'invalid' | 'unavailable' };

/** A JWT: three base64url parts; an API token never looks like one. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

function claimAt(payload: JWTPayload, path: string): unknown {
  let value: unknown = payload;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

export function scopesFromClaim(value: unknown, prefix: string): Set<Scope> {
  const items = typeof value === 'string' ? value.split(/\s+/) : Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  const out = new Set<Scope>();
  for (const item of items) {
    if (!item.startsWith(prefix)) continue;
    const scope = item.slice(prefix.length);
    if (isScope(scope)) out.add(scope);
  }
  return out;
}

export class OidcVerifier {
  private jwks?: ReturnType<typeof createRemoteJWKSet>;
  private discovering?: Promise<ReturnType<typeof createRemoteJWKSet>>;

  constructor(private readonly settings: OidcSettings) {
    if (settings.jwksUri) this.jwks = createRemoteJWKSet(new URL(settings.jwksUri));
  }

  private async keySet(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (this.jwks) return this.jwks;
    // one discovery at a time; a failed one is retried by the next request
    this.discovering ??= (async () => {
      const url = `${this.settings.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      if (!res.ok) throw new Error(`discovery answered ${res.status}`);
      const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
      if (doc.issuer !== this.settings.issuer || typeof doc.jwks_uri !== 'string') throw new Error('discovery document does not name this issuer and a jwks_uri');
      this.jwks = createRemoteJWKSet(new URL(doc.jwks_uri));
      return this.jwks;
    })().finally(() => {
      this.discovering = undefined;
    });
    return this.discovering;
  }

  async verify(token: string): Promise<OidcCheck> {
    let jwks: ReturnType<typeof createRemoteJWKSet>;
    try {
      jwks = await this.keySet();
    } catch {
      return { ok: false, reason: 'unavailable' };
    }
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer: this.settings.issuer,
        audience: this.settings.audience as string | string[],
        algorithms: [...this.settings.algorithms],
        clockTolerance: this.settings.clockToleranceS,
        requiredClaims: ['exp'],
      });
      const name = claimAt(payload, this.settings.nameClaim);
      if (typeof name !== 'string' || name === '') return { ok: false, reason: 'invalid' };
      return { ok: true, name: name.slice(0, 128), scopes: scopesFromClaim(claimAt(payload, this.settings.scopeClaim), this.settings.scopePrefix) };
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) return { ok: false, reason: 'expired' };
      // the issuer's keys could not be fetched: not the caller's fault, and not a reason to throttle it
      if (err instanceof joseErrors.JWKSTimeout || !(err instanceof joseErrors.JOSEError)) return { ok: false, reason: 'unavailable' };
      return { ok: false, reason: 'invalid' };
    }
  }
}
