import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseExpiry, TOKEN_PREFIX, TokenStore } from './api-tokens.js';
import { AuthThrottle } from './auth-throttle.js';
import { HostAllowList, hostOf } from './host-allow-list.js';
import { scopesFromClaim } from './oidc-verifier.js';
import { researchApiScopes } from './scopes.js';

describe('API tokens', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const store = async (): Promise<TokenStore> => {
    const dir = await mkdtemp(join(tmpdir(), 'anofair-tokens-'));
    dirs.push(dir);
    return new TokenStore(join(dir, 'tokens.sqlite'));
  };

  it('stores only the SHA-256 of a token: the secret is nowhere in the file', async () => {
    const s = await store();
    const created = s.create('ct-export', ['research-ingest'], Date.now() + 60_000);
    assert.ok(created.token.startsWith(TOKEN_PREFIX));
    assert.ok(created.token.length >= 50);
    s.close();
    for (const f of ['tokens.sqlite', 'tokens.sqlite-wal']) {
      const bytes = await readFile(join(s.path, '..', f)).catch(() => Buffer.alloc(0));
      assert.equal(bytes.includes(created.token), false, f);
      assert.equal(bytes.includes(created.token.slice(TOKEN_PREFIX.length)), false, f);
    }
  });

  it('checks a token: known, expired, revoked, unknown', async () => {
    const s = await store();
    const now = 1_800_000_000_000;
    const a = s.create('viewer', ['clinical', 'clinical'], now + 1000, now);
    assert.deepEqual(a.scopes, ['clinical']);
    const ok = s.check(a.token, now + 999);
    assert.ok(ok.ok && ok.token.name === 'viewer');
    assert.deepEqual(s.check(a.token, now + 1000), { ok: false, reason: 'expired' });
    assert.deepEqual(s.check(`${a.token}x`, now), { ok: false, reason: 'unknown' });
    const b = s.create('viewer', ['clinical'], undefined, now);
    assert.equal(s.revoke('viewer', now + 1).length, 2, 'revoking a name revokes its active tokens');
    assert.deepEqual(s.check(b.token, now + 2), { ok: false, reason: 'revoked' });
    assert.equal(s.isEmpty(), false);
    s.close();
  });

  it('refuses a bad name, an unknown scope, no scope and an expiry in the past', async () => {
    const s = await store();
    assert.throws(() => s.create('has space', ['clinical'], undefined), /token name/);
    assert.throws(() => s.create('x', ['admin'], undefined), /unknown scope/);
    assert.throws(() => s.create('x', [], undefined), /at least one scope/);
    assert.throws(() => s.create('x', ['clinical'], Date.now() - 1), /future/);
    s.close();
  });

  it('reads expiries: 90d, 12h, 30m, an ISO date, never; refuses the rest', () => {
    const now = 1_000_000;
    assert.equal(parseExpiry('90d', now), now + 90 * 86_400_000);
    assert.equal(parseExpiry('12h', now), now + 12 * 3_600_000);
    assert.equal(parseExpiry('30m', now), now + 30 * 60_000);
    assert.equal(parseExpiry('2027-06-30T00:00:00Z', now), Date.parse('2027-06-30T00:00:00Z'));
    assert.equal(parseExpiry('never', now), undefined);
    for (const bad of ['soon', '90', '-1d', '1y']) assert.throws(() => parseExpiry(bad, now), /cannot read the expiry/);
  });
});

describe('the throttle, the Host list, OIDC scope claims and the research API scopes', () => {
  it('blocks an address after maxFailures within the window, once, and forgets the oldest address when full', () => {
    const t = new AuthThrottle({ maxFailures: 3, windowMs: 1000, blockMs: 5000, maxTracked: 2 });
    assert.equal(t.fail('a', 0), false);
    assert.equal(t.fail('a', 2000), false, 'the first failure left the window');
    assert.equal(t.fail('a', 2001), false);
    assert.equal(t.fail('a', 2002), true);
    assert.deepEqual(t.check('a', 2003), { blocked: true, retryAfterS: 5 });
    assert.deepEqual(t.check('a', 7002), { blocked: false });
    t.fail('b', 0);
    t.fail('c', 0);
    assert.equal(t.tracked, 2);
    assert.deepEqual(t.check('a', 2003), { blocked: false }, 'a was dropped to make room');
  });

  it('matches Host headers without port and case, with *.domain entries; refuses malformed ones', () => {
    const list = new HostAllowList(['Gateway.Example.org', '10.1.2.3', '::1', '*.hospital.example']);
    for (const ok of ['gateway.example.org', 'GATEWAY.example.org:8443', '10.1.2.3:80', '[::1]:8080', 'pacs.hospital.example', 'gateway.example.org.']) assert.ok(list.allows(ok), ok);
    for (const bad of [undefined, '', 'evil.example', 'hospital.example', 'gateway.example.org@evil', 'gateway.example.org:80:80', '10.1.2.3 x', 'xhospital.example']) assert.ok(!list.allows(bad), String(bad));
    assert.equal(hostOf('[::1]:80'), '::1');
  });

  it('reads scopes from a space-separated or array claim, with the prefix, ignoring unknown ones', () => {
    assert.deepEqual([...scopesFromClaim('openid anofair:clinical anofair:admin metrics', 'anofair:')], ['clinical']);
    assert.deepEqual([...scopesFromClaim(['privacy', 'operator', 7], '')].sort(), ['operator', 'privacy']);
    assert.deepEqual([...scopesFromClaim(undefined, '')], []);
  });

  it('maps research API routes to scopes, and unknown ones to operator and privacy together', () => {
    assert.deepEqual(researchApiScopes('POST', '/rules/dry-run'), ['privacy']);
    assert.deepEqual(researchApiScopes('POST', '/RULES/DRY-RUN/'), ['privacy'], 'Express matches routes case-insensitively');
    assert.deepEqual(researchApiScopes('DELETE', '/quarantine/12'), ['privacy']);
    assert.deepEqual(researchApiScopes('POST', '/quarantine/12/retry'), ['operator']);
    assert.deepEqual(researchApiScopes('GET', '/queue'), ['operator']);
    assert.deepEqual(researchApiScopes('GET', '/records/1'), ['operator', 'privacy']);
    assert.deepEqual(researchApiScopes('PUT', '/queue'), ['operator', 'privacy']);
  });
});
