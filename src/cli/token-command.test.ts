import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TOKENS_FILE, TokenStore } from '../gateway/access/api-tokens.js';
import { AUDIT_FILE, AuditTrail } from '../gateway/audit/audit-trail.js';
import { REPO_ROOT } from '../../test/support/repo-paths.js';

const bin = join(REPO_ROOT, 'bin', 'anofair.js');
const anofair = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('anofair token', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'anofair-token-cli-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('creates a scoped, expiring token, prints it once, and the gateway store knows it', () => {
    const data = join(work, 'data');
    const made = anofair('token', 'create', '--data', data, '--name', 'ct-export', '--scope', 'research-ingest', '--scope', 'clinical', '--expires', '7d');
    assert.equal(made.status, 0, made.stderr);
    const token = made.stdout.split('\n')[0]!;
    assert.match(token, /^anofair_[A-Za-z0-9_-]{43}$/);
    assert.match(made.stdout, /scopes research-ingest, clinical; expires 20\d\d-/);
    const store = new TokenStore(join(data, TOKENS_FILE));
    try {
      const checked = store.check(token);
      assert.ok(checked.ok);
      assert.deepEqual(checked.token.scopes, ['research-ingest', 'clinical']);
      assert.ok(checked.token.expiresAt! - Date.now() > 6.9 * 86_400_000);
    } finally {
      store.close();
    }
    const listed = anofair('token', 'list', '--data', data);
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, /ct-export +research-ingest,clinical +20\d\d-.* active/);
    assert.ok(!listed.stdout.includes(token), 'list never shows a secret');
  });

  it('revokes by name, and says so when there is nothing to revoke', () => {
    const data = join(work, 'data');
    const revoked = anofair('token', 'revoke', '--data', data, 'ct-export');
    assert.equal(revoked.status, 0, revoked.stderr);
    assert.match(revoked.stdout, /revoked tok_[0-9a-f]{12} \("ct-export"\)/);
    assert.match(anofair('token', 'list', '--data', data).stdout, /revoked 20\d\d-/);
    const trail = new AuditTrail(join(data, AUDIT_FILE), { readonly: true });
    try {
      const rows = trail.query({ types: ['token-created', 'token-revoked'] });
      assert.deepEqual(rows.map((r) => r.type), ['token-created', 'token-revoked']);
      assert.ok(rows.every((r) => !JSON.stringify(r).includes('anofair_')), 'the audit trail holds no token secret');
      assert.equal(trail.verify().ok, true);
    } finally {
      trail.close();
    }
    const again = anofair('token', 'revoke', '--data', data, 'ct-export');
    assert.equal(again.status, 2);
    assert.match(again.stderr, /NOT_FOUND: no active token with id or name "ct-export"/);
  });

  it('finds the data folder through --config, and refuses unknown scopes and bad expiries with one line', async () => {
    const config = join(work, 'gateway.yaml');
    await writeFile(config, 'upstream: { url: "http://127.0.0.1:8042/dicom-web" }\ndata: ./cfg-data\n');
    const made = anofair('token', 'create', '--config', config, '--name', 'monitor', '--scope', 'metrics', '--json');
    assert.equal(made.status, 0, made.stderr);
    const json = JSON.parse(made.stdout) as { name: string; scopes: string[]; token: string };
    assert.deepEqual([json.name, json.scopes], ['monitor', ['metrics']]);
    const store = new TokenStore(join(work, 'cfg-data', TOKENS_FILE));
    assert.ok(store.check(json.token).ok);
    store.close();
    const bad = anofair('token', 'create', '--data', join(work, 'data'), '--name', 'x', '--scope', 'admin');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown scope\(s\) admin; the scopes are clinical, research-ingest, operator, privacy, metrics/);
    const badExpiry = anofair('token', 'create', '--data', join(work, 'data'), '--name', 'x', '--scope', 'clinical', '--expires', 'soon');
    assert.equal(badExpiry.status, 2);
    assert.match(badExpiry.stderr, /cannot read the expiry "soon"/);
  });
});
