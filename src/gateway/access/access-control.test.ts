import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FIXTURE_UIDS, fixture } from '../../../test/harness/fixtures.js';
import { startStack, type Stack } from '../../../test/harness/gateway-stack.js';
import { startOidcIssuer, type OidcIssuer } from '../../../test/harness/oidc-issuer.js';
import { multipartBody, newTestBoundary, stowContentType } from '../../../test/harness/stow-body.js';
import { parseConfig } from '../config/config-loader.js';
import { EMBEDDED_DEFAULTS } from '../config/default-config.js';
import { INITIAL_TOKEN_FILE } from '../server.js';
import { TOKENS_FILE, TokenStore, tokenSha256 } from './api-tokens.js';
import { SCOPES, type Scope } from './scopes.js';

/**
 * Access control, as a security officer probes it: every route family but /healthz needs a credential with the
 * scope of that family; missing, wrong, expired, revoked and wrong-scope credentials are refused with the
 * right status and reason; guessing is throttled; a forged Host is refused; credentials meant for the gateway
 * never reach the PACS; and a gateway on the network without authentication does not start.
 */

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
// The PACS needs credentials of its own: Orthanc with authentication on and one user.
const PACS_AUTH = { AuthenticationEnabled: true, RegisteredUsers: { gateway: 'pacs-password' } };
const AUDIENCE = 'anofair-gateway';

interface Probe {
  family: string;
  scope: Scope;
  method: string;
  path: string;
  body?: () => { type: string; bytes: Uint8Array };
}

function stowBody(): { type: string; bytes: Uint8Array } {
  const boundary = newTestBoundary();
  return { type: stowContentType(boundary), bytes: new Uint8Array(multipartBody([{ bytes: fixture('pydicom/CT_small.dcm') }], boundary)) };
}

/** One request per route family, with the scope each needs. */
const PROBES: readonly Probe[] = [
  { family: 'clinical QIDO', scope: 'clinical', method: 'GET', path: '/dicom-web/studies' },
  { family: 'clinical WADO', scope: 'clinical', method: 'GET', path: `/dicom-web/studies/${FIXTURE_UIDS['pydicom/CT_small.dcm'].study}/metadata` },
  { family: 'clinical STOW', scope: 'clinical', method: 'POST', path: '/dicom-web/studies', body: stowBody },
  { family: 'de-identify only', scope: 'research-ingest', method: 'POST', path: '/deid/dicom-web/studies', body: stowBody },
  { family: 'queue', scope: 'operator', method: 'GET', path: '/api/queue' },
  { family: 'quarantine list', scope: 'operator', method: 'GET', path: '/api/quarantine' },
  { family: 'quarantine retry', scope: 'operator', method: 'POST', path: '/api/quarantine/999999/retry' },
  { family: 'status', scope: 'operator', method: 'GET', path: '/status' },
  { family: 'quarantine discard', scope: 'privacy', method: 'DELETE', path: '/api/quarantine/999999' },
  { family: 'dry run', scope: 'privacy', method: 'POST', path: '/api/rules/dry-run', body: () => ({ type: 'application/dicom', bytes: fixture('pydicom/CT_small.dcm') }) },
  { family: 'metrics', scope: 'metrics', method: 'GET', path: '/metrics' },
];

async function call(stack: Stack, probe: Probe, authorization?: string): Promise<{ status: number; headers: Headers; body: string }> {
  const body = probe.body?.();
  const res = await fetch(`${stack.url}${probe.path}`, {
    method: probe.method,
    headers: { ...(authorization ? { authorization } : {}), ...(body ? { 'content-type': body.type } : {}) },
    ...(body ? { body: body.bytes } : {}),
  } as RequestInit);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** A GET from another loopback address (a second client host), with node:http, which can bind the local address. */
function getFrom(localAddress: string, url: string, authorization: string): Promise<{ status: number; retryAfter?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { localAddress, headers: { authorization } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const errorCode = (body: string): string => (JSON.parse(body) as { error: { code: string } }).error.code;

describe('access control with scoped credentials (auth.mode: required)', () => {
  let stack: Stack;
  let issuer: OidcIssuer;
  let tokens: TokenStore;
  const byScope = new Map<Scope, string>();
  const CONFIG_TOKEN = 'monitoring-secret-token-0123456789';

  before(async () => {
    issuer = await startOidcIssuer(AUDIENCE);
    stack = await startStack({
      pacsOptions: { extraConfig: PACS_AUTH },
      config: {
        upstream: { basicAuth: { username: 'gateway', password: 'pacs-password' } },
        auth: {
          mode: 'required',
          clients: { monitoring: { tokenSha256: tokenSha256(CONFIG_TOKEN), scopes: ['metrics'] } },
          oidc: { issuer: issuer.issuer, audience: AUDIENCE, scopeClaim: 'scope', scopePrefix: 'anofair:', nameClaim: 'azp' },
          throttle: { maxFailures: 1000, windowMs: 60_000, blockMs: 60_000 },
        },
      },
    });
    // the CLI's store, opened beside the running gateway: what it writes counts at the next request
    tokens = new TokenStore(join(stack.gateway.config.data, TOKENS_FILE));
    for (const scope of SCOPES) byScope.set(scope, tokens.create(`only-${scope}`, [scope], Date.now() + 3_600_000).token);
  });
  after(async () => {
    tokens?.close();
    await stack?.stop();
    await issuer?.stop();
  });

  for (const probe of PROBES) {
    it(`${probe.family} (${probe.method} ${probe.path.split('?')[0]}): 401 without or with wrong credentials, 403 without ${probe.scope}, allowed with it`, async () => {
      for (const authorization of [undefined, 'Bearer anofair_wrong', basic(`only-${probe.scope}`, 'wrong'), 'Digest username="x"']) {
        const res = await call(stack, probe, authorization);
        assert.equal(res.status, 401, `${authorization}: ${res.body}`);
        assert.equal(errorCode(res.body), 'UNAUTHORIZED');
        assert.match(res.headers.get('www-authenticate') ?? '', /Bearer realm="anofair"/);
      }
      const other = SCOPES.find((s) => s !== probe.scope)!;
      const denied = await call(stack, probe, `Bearer ${byScope.get(other)}`);
      assert.equal(denied.status, 403, denied.body);
      assert.equal(errorCode(denied.body), 'FORBIDDEN');
      assert.match(denied.headers.get('www-authenticate') ?? '', new RegExp(`error="insufficient_scope", scope="${probe.scope}"`));
      for (const authorization of [`Bearer ${byScope.get(probe.scope)}`, basic(`only-${probe.scope}`, byScope.get(probe.scope)!)]) {
        const allowed = await call(stack, probe, authorization);
        assert.ok(![401, 403].includes(allowed.status), `${probe.family} with its scope: ${allowed.status} ${allowed.body.slice(0, 200)}`);
      }
    });
  }

  it('refuses a token presented under another name (Basic), an expired token and a revoked one, without a restart', async () => {
    const clinical = byScope.get('clinical')!;
    assert.equal((await call(stack, PROBES[0]!, basic('someone-else', clinical))).status, 401);
    const shortLived = tokens.create('short-lived', ['clinical'], Date.now() + 1_500);
    assert.equal((await call(stack, PROBES[0]!, `Bearer ${shortLived.token}`)).status, 200);
    await new Promise((r) => setTimeout(r, 1_600));
    const expired = await call(stack, PROBES[0]!, `Bearer ${shortLived.token}`);
    assert.equal(expired.status, 401);
    assert.match(expired.body, /expired/);
    assert.match(expired.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    const revocable = tokens.create('revocable', ['clinical'], Date.now() + 3_600_000);
    assert.equal((await call(stack, PROBES[0]!, `Bearer ${revocable.token}`)).status, 200);
    assert.equal(tokens.revoke(revocable.id).length, 1);
    assert.equal((await call(stack, PROBES[0]!, `Bearer ${revocable.token}`)).status, 401);
  });

  it('accepts a token from the configuration with its scopes only', async () => {
    const metrics = PROBES.find((p) => p.scope === 'metrics')!;
    assert.equal((await call(stack, metrics, `Bearer ${CONFIG_TOKEN}`)).status, 200);
    assert.equal((await call(stack, PROBES[0]!, `Bearer ${CONFIG_TOKEN}`)).status, 403);
  });

  it('verifies OIDC bearer tokens against the issuer: scopes from the claim, and forged, expired, early or foreign tokens refused', async () => {
    const good = await issuer.token({ azp: 'pacs-viewer', scope: 'openid anofair:clinical profile' });
    const ok = await call(stack, PROBES[0]!, `Bearer ${good}`);
    assert.equal(ok.status, 200, ok.body);
    // a scope without the configured prefix does not count
    const unprefixed = await issuer.token({ azp: 'pacs-viewer', scope: 'clinical' });
    assert.equal((await call(stack, PROBES[0]!, `Bearer ${unprefixed}`)).status, 403);
    const refused: Array<[string, string]> = [
      ['forged', await issuer.rogueToken({ azp: 'pacs-viewer', scope: 'anofair:clinical' })],
      ['expired', await issuer.token({ azp: 'pacs-viewer', scope: 'anofair:clinical' }, { expiresInS: -120 })],
      ['not yet valid', await issuer.token({ azp: 'pacs-viewer', scope: 'anofair:clinical' }, { notBeforeS: 600 })],
      ['other audience', await issuer.token({ azp: 'pacs-viewer', scope: 'anofair:clinical' }, { audience: 'another-app' })],
      ['other issuer', await issuer.token({ azp: 'pacs-viewer', scope: 'anofair:clinical' }, { issuer: 'https://idp.example/realms/other' })],
      ['no name claim', await issuer.token({ scope: 'anofair:clinical' })],
    ];
    for (const [what, token] of refused) {
      const res = await call(stack, PROBES[0]!, `Bearer ${token}`);
      assert.equal(res.status, 401, `${what}: ${res.body}`);
    }
    const expired = await call(stack, PROBES[0]!, `Bearer ${refused[1]![1]}`);
    assert.match(expired.body, /expired/);
  });

  it("never relays the gateway's credentials to the PACS (which answers with its own)", async () => {
    // the PACS only knows gateway:pacs-password; a relayed Bearer token would make it answer 401
    const res = await call(stack, PROBES[0]!, `Bearer ${byScope.get('clinical')}`);
    assert.equal(res.status, 200);
  });

  it('keeps /healthz open for probes, and refuses an unknown path only after authentication', async () => {
    assert.equal((await fetch(`${stack.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${stack.url}/no-such-thing`)).status, 401);
    const known = await fetch(`${stack.url}/no-such-thing`, { headers: { authorization: `Bearer ${byScope.get('operator')}` } });
    assert.equal(known.status, 404);
  });

  it('refuses a Host header it does not answer for (421), before looking at credentials', async () => {
    const port = new URL(stack.url).port;
    const get = (host: string, path = '/dicom-web/studies'): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host, authorization: `Bearer ${byScope.get('clinical')}` } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    assert.equal(await get('evil.example'), 421);
    assert.equal(await get(`evil.example:${port}`), 421);
    assert.equal(await get(`localhost:${port}`), 200);
    assert.equal(await get(`127.0.0.1:${port}`), 200);
    assert.equal(await get('evil.example', '/healthz'), 200);
  });
});

describe('failed authentication is throttled per address', () => {
  let stack: Stack;
  let tokens: TokenStore;
  let token: string;

  before(async () => {
    stack = await startStack({ archive: false, config: { auth: { mode: 'required', throttle: { maxFailures: 5, windowMs: 60_000, blockMs: 2_000 } } } });
    tokens = new TokenStore(join(stack.gateway.config.data, TOKENS_FILE));
    token = tokens.create('viewer', ['clinical'], Date.now() + 3_600_000).token;
  });
  after(async () => {
    tokens?.close();
    await stack?.stop();
  });

  it('after 5 wrong tokens the address gets 429 with Retry-After, even with the right token; other addresses are not affected; the block ends', async () => {
    const url = `${stack.url}${PROBES[0]!.path}`;
    for (let i = 0; i < 5; i++) assert.equal((await getFrom('127.0.0.2', url, `Bearer anofair_guess${i}`)).status, 401);
    const blocked = await getFrom('127.0.0.2', url, `Bearer ${token}`);
    assert.equal(blocked.status, 429, blocked.body);
    assert.equal(errorCode(blocked.body), 'THROTTLED');
    assert.ok(Number(blocked.retryAfter) >= 1);
    assert.equal((await call(stack, PROBES[0]!, `Bearer ${token}`)).status, 200, '127.0.0.1 is not blocked');
    await new Promise((r) => setTimeout(r, 2_100));
    assert.equal((await getFrom('127.0.0.2', url, `Bearer ${token}`)).status, 200);
  });
});

describe('the shipped configuration requires credentials', () => {
  let stack: Stack;
  before(async () => {
    // auth as shipped: the stack's own `auth: off` replaced by nothing at all
    stack = await startStack({ archive: true, config: { auth: undefined } });
  });
  after(async () => {
    await stack?.stop();
  });

  it('the embedded defaults say auth.mode required', () => {
    assert.equal(parseConfig(EMBEDDED_DEFAULTS).auth.mode, 'required');
  });

  it('answers 401 on every route family without credentials, and makes a first token (0600, never logged) that opens them', async () => {
    for (const probe of PROBES) assert.equal((await call(stack, probe)).status, 401, probe.family);
    const file = join(stack.gateway.config.data, INITIAL_TOKEN_FILE);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const token = (await readFile(file, 'utf8')).trim();
    assert.match(token, /^anofair_[A-Za-z0-9_-]{43}$/);
    for (const probe of PROBES) {
      const res = await call(stack, probe, `Bearer ${token}`);
      assert.ok(![401, 403].includes(res.status), `${probe.family}: ${res.status}`);
    }
    assert.ok(!stack.logs.some((l) => l.includes(token)), 'the token is not in the log');
    assert.ok(stack.logs.some((l) => l.includes(INITIAL_TOKEN_FILE)), 'the log names the file');
  });
});

describe('a gateway on the network without authentication does not start', () => {
  const base = 'upstream: { url: "http://127.0.0.1:8042/dicom-web" }\n';
  it('refuses auth.mode off or optional on a non-loopback address, unless told so explicitly', () => {
    for (const mode of ['off', 'optional']) {
      assert.throws(
        () => parseConfig(`${base}server: { host: 0.0.0.0 }\nauth: { mode: ${mode} }\n`),
        (err: Error) => /refusing to listen on 0\.0\.0\.0 with auth\.mode/.test(err.message) && /auth\.mode/.test(err.message),
      );
    }
    assert.equal(parseConfig(`${base}server: { host: 0.0.0.0 }\nauth: { mode: off, allowUnauthenticatedNetwork: true }\n`).auth.mode, 'off');
    assert.equal(parseConfig(`${base}server: { host: 0.0.0.0 }\n`).auth.mode, 'required');
    assert.equal(parseConfig(`${base}server: { host: 127.0.0.1 }\nauth: { mode: off }\n`).auth.mode, 'off');
  });

  it('refuses a client in the file without scopes, and an unknown scope', () => {
    const digest = 'a'.repeat(64);
    assert.throws(() => parseConfig(`${base}auth: { clients: { ct: { tokenSha256: ${digest} } } }\n`), /scopes/);
    assert.throws(() => parseConfig(`${base}auth: { clients: { ct: { tokenSha256: ${digest}, scopes: [admin] } } }\n`), /expected a scope/);
  });
});

describe('optional authentication and the routing rules', () => {
  let stack: Stack;
  let token: string;
  before(async () => {
    const rules = `version: 1
rules:
  - name: from-ct-export
    when: { client: [ct-export] }
    forward: { destinations: [research] }
  - name: nothing-else
    drop: true
`;
    token = 'ct-export-secret-token-0123456789';
    stack = await startStack({ rules, config: { auth: { mode: 'optional', clients: { 'ct-export': { tokenSha256: tokenSha256(token), scopes: ['research-ingest'] } } } } });
  });
  after(async () => {
    await stack?.stop();
  });

  const deid = PROBES.find((p) => p.family === 'de-identify only')!;

  it('tells the rules who sent the instance: the authenticated client is forwarded, an anonymous one is not', async () => {
    const anonymous = await call(stack, deid);
    assert.equal(anonymous.status, 409, anonymous.body);
    assert.match(anonymous.body, /dropped by rule \\"nothing-else\\"/);
    const known = await call(stack, deid, `Bearer ${token}`);
    assert.equal(known.status, 200, known.body);
  });

  it('still refuses wrong credentials (no silent fall-back to anonymous), and anonymous gets only auth.anonymousScopes', async () => {
    assert.equal((await call(stack, deid, 'Bearer not-the-token')).status, 401);
    assert.equal((await call(stack, PROBES.find((p) => p.family === 'queue')!)).status, 403);
  });
});

describe('authentication off (loopback only)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ archive: false, pacsOptions: { extraConfig: PACS_AUTH } });
  });
  after(async () => {
    await stack?.stop();
  });

  it("relays the client's own Authorization to the PACS", async () => {
    const without = await fetch(`${stack.url}/dicom-web/studies`);
    assert.equal(without.status, 401, 'the PACS refuses');
    await without.arrayBuffer();
    const withPacsCredentials = await fetch(`${stack.url}/dicom-web/studies`, { headers: { authorization: basic('gateway', 'pacs-password') } });
    assert.equal(withPacsCredentials.status, 200);
    await withPacsCredentials.arrayBuffer();
  });
});

describe('passing checked credentials through to a PACS that authorises users itself', () => {
  // the same Basic credentials are known to the gateway (client "gateway" with that token) and to Orthanc
  const credentials = basic('gateway', 'pacs-password');
  const client = { gateway: { tokenSha256: tokenSha256('pacs-password'), scopes: ['clinical'] } };
  const stacks: Stack[] = [];
  after(async () => {
    for (const s of stacks) await s.stop();
  });

  it('relays the Authorization header to the PACS only with auth.passCredentialsToPacs', async () => {
    for (const pass of [true, false]) {
      const stack = await startStack({ archive: false, pacsOptions: { extraConfig: PACS_AUTH }, config: { auth: { mode: 'required', clients: client, passCredentialsToPacs: pass } } });
      stacks.push(stack);
      const res = await call(stack, PROBES[0]!, credentials);
      // with pass-through Orthanc sees the client's credentials and answers; without, it sees none and refuses
      assert.equal(res.status, pass ? 200 : 401, `${pass}: ${res.body.slice(0, 200)}`);
      if (!pass) assert.doesNotMatch(res.body, /127\.0\.0\.1:\d+/, 'the PACS address is not in the answer');
    }
  });
});
