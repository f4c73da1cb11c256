import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FIXTURE_UIDS, fixture } from '../../../test/harness/fixtures.js';
import { startStack, type Stack } from '../../../test/harness/gateway-stack.js';
import { multipartBody, newTestBoundary, stowContentType } from '../../../test/harness/stow-body.js';
import { tokenDigest } from './client-auth.js';

/**
 * Client authentication: who sent an instance is known to the routing rules (`client:`), credentials meant for
 * the gateway never reach the PACS, and with auth off the client's own PACS credentials pass through.
 */

const TOKEN = 'ct-export-secret-token-0123456789';
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
// The PACS itself needs credentials: Orthanc with authentication on and one user.
const PACS_AUTH = { AuthenticationEnabled: true, RegisteredUsers: { gateway: 'pacs-password' } };

async function deidStow(stack: Stack, authorization?: string): Promise<{ status: number; body: string }> {
  const boundary = newTestBoundary();
  const res = await fetch(`${stack.url}/deid/dicom-web/studies`, {
    method: 'POST',
    headers: { 'content-type': stowContentType(boundary), ...(authorization ? { authorization } : {}) },
    body: new Uint8Array(multipartBody([{ bytes: fixture('pydicom/CT_small.dcm') }], boundary)),
  });
  return { status: res.status, body: await res.text() };
}

describe('client authentication (auth.mode: required)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({
      archive: false,
      pacsOptions: { extraConfig: PACS_AUTH },
      config: {
        upstream: { basicAuth: { username: 'gateway', password: 'pacs-password' } },
        auth: { mode: 'required', clients: { 'ct-export': { tokenSha256: tokenDigest(TOKEN).toString('hex') } } },
      },
    });
  });
  after(async () => {
    await stack?.stop();
  });

  it('answers 401 with WWW-Authenticate without credentials or with wrong ones', async () => {
    for (const authorization of [undefined, 'Bearer wrong-token', basic('ct-export', 'wrong'), basic('someone-else', TOKEN), 'Digest abc']) {
      const res = await fetch(`${stack.url}/dicom-web/studies`, { headers: authorization ? { authorization } : {} });
      assert.equal(res.status, 401, String(authorization));
      assert.match(res.headers.get('www-authenticate') ?? '', /Bearer realm="anofair"/);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
    }
  });

  it('lets a client in with Bearer or Basic, and talks to the PACS with its own credentials', async () => {
    for (const authorization of [`Bearer ${TOKEN}`, basic('ct-export', TOKEN)]) {
      const res = await fetch(`${stack.url}/dicom-web/studies`, { headers: { authorization } });
      assert.equal(res.status, 200, authorization);
      await res.arrayBuffer();
    }
  });

  it('keeps /healthz open for probes', async () => {
    assert.equal((await fetch(`${stack.url}/healthz`)).status, 200);
  });
});

describe('client authentication (auth.mode: optional) and the routing rules', () => {
  let stack: Stack;
  before(async () => {
    const rules = `version: 1
rules:
  - name: from-ct-export
    when: { client: [ct-export] }
    forward: { destinations: [research] }
  - name: nothing-else
    drop: true
`;
    stack = await startStack({ rules, config: { auth: { mode: 'optional', clients: { 'ct-export': { tokenSha256: tokenDigest(TOKEN).toString('hex') } } } } });
  });
  after(async () => {
    await stack?.stop();
  });

  it('tells the rules who sent the instance: the authenticated client is forwarded, an anonymous one is not', async () => {
    const anonymous = await deidStow(stack);
    assert.equal(anonymous.status, 409, anonymous.body);
    assert.match(anonymous.body, /dropped by rule \\"nothing-else\\"/);
    const known = await deidStow(stack, `Bearer ${TOKEN}`);
    assert.equal(known.status, 200, known.body);
    assert.match(known.body, new RegExp(FIXTURE_UIDS['pydicom/CT_small.dcm'].instance.replace(/\./g, '\\.')));
  });

  it('still refuses wrong credentials (no silent fall-back to anonymous)', async () => {
    const wrong = await deidStow(stack, 'Bearer not-the-token');
    assert.equal(wrong.status, 401);
  });
});

describe('client authentication off', () => {
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
