import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload, type CryptoKey } from 'jose';

/**
 * A local OpenID Connect issuer on a loopback port, for tests: it publishes a discovery document and a JWKS,
 * and signs access tokens (JWT) with its key, as Keycloak or Entra ID would. `rogueToken` signs with a key the
 * issuer never published (a forged token).
 */
export interface OidcIssuer {
  issuer: string;
  jwksUri: string;
  /** Requests the issuer answered (discovery and JWKS), to see caching. */
  readonly requests: number;
  token(claims: JWTPayload, options?: { expiresInS?: number; audience?: string; issuer?: string; notBeforeS?: number }): Promise<string>;
  rogueToken(claims: JWTPayload): Promise<string>;
  stop(): Promise<void>;
}

const KID = 'test-key-1';

export async function startOidcIssuer(audience: string): Promise<OidcIssuer> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const rogue = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: KID, alg: 'RS256', use: 'sig' };
  let requests = 0;
  let base = '';
  const server: Server = createServer((req, res) => {
    requests++;
    if (req.url === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ issuer: base, jwks_uri: `${base}/jwks`, id_token_signing_alg_values_supported: ['RS256'] }));
    } else if (req.url === '/jwks') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sign = async (key: CryptoKey, claims: JWTPayload, o: { expiresInS?: number; audience?: string; issuer?: string; notBeforeS?: number } = {}) => {
    const now = Math.floor(Date.now() / 1000);
    let jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: KID, typ: 'at+jwt' })
      .setIssuer(o.issuer ?? base)
      .setAudience(o.audience ?? audience)
      .setIssuedAt(now)
      .setExpirationTime(now + (o.expiresInS ?? 300));
    if (o.notBeforeS !== undefined) jwt = jwt.setNotBefore(now + o.notBeforeS);
    return jwt.sign(key);
  };
  return {
    issuer: base,
    jwksUri: `${base}/jwks`,
    get requests() {
      return requests;
    },
    token: (claims, options) => sign(privateKey, claims, options),
    rogueToken: (claims) => sign(rogue.privateKey, claims),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
