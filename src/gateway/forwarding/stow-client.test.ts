import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startScriptedStowServer, type ScriptedStowServer } from '../../../test/support/scripted-stow-server.js';
import { syntheticInstance } from '../../../test/support/synthetic-instance.js';
import { destinationSchema, stowUrl } from './destination.js';
import { judgeError } from './judge-answer.js';
import { DEFAULT_RETRY_POLICY } from './retry-policy.js';
import { postInstances } from './stow-client.js';

async function* parts(...instances: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const i of instances) yield i;
}

describe('STOW-RS client', () => {
  let server: ScriptedStowServer;
  before(async () => {
    server = await startScriptedStowServer(() => ({ status: 200 }));
  });
  after(async () => {
    await server.close();
  });

  it('posts to <base>/studies, whatever the trailing slash', () => {
    assert.equal(stowUrl({ url: 'https://archive.example/dicom-web/' }), 'https://archive.example/dicom-web/studies');
    assert.equal(stowUrl({ url: 'https://archive.example/dicom-web' }), 'https://archive.example/dicom-web/studies');
  });

  it('streams a multipart/related body (chunked) that a server reads back part by part', async () => {
    const a = syntheticInstance({ seed: 'a' });
    const b = syntheticInstance({ seed: 'b' });
    const answer = await postInstances(destinationSchema.parse({ url: server.url }), parts(a, b));
    assert.equal(answer.status, 200);
    assert.match(answer.contentType ?? '', /application\/dicom\+json/);
    const request = server.requests.at(-1)!;
    assert.equal(request.headers['transfer-encoding'], 'chunked');
    assert.deepEqual(request.instances.map((i) => Buffer.from(i.bytes)), [Buffer.from(a), Buffer.from(b)], 'bytes arrive unchanged');
  });

  it('sends Content-Length in buffered mode, configured headers, and basic authentication', async () => {
    const destination = destinationSchema.parse({
      url: server.url,
      transfer: 'buffered',
      headers: { 'x-site': 'site-7' },
      basicAuth: { username: 'gateway', password: 's3cret' },
    });
    await postInstances(destination, parts(syntheticInstance()));
    const request = server.requests.at(-1)!;
    assert.ok(Number(request.headers['content-length']) > 0);
    assert.equal(request.headers['transfer-encoding'], undefined);
    assert.equal(request.headers['x-site'], 'site-7');
    assert.equal(request.headers.authorization, `Basic ${Buffer.from('gateway:s3cret').toString('base64')}`);
  });

  it('reads Retry-After in seconds', async () => {
    server.setScript(() => ({ status: 503, headers: { 'retry-after': '12' } }));
    const answer = await postInstances(destinationSchema.parse({ url: server.url }), parts(syntheticInstance()));
    assert.deepEqual([answer.status, answer.retryAfterMs], [503, 12_000]);
    server.setScript(() => ({ status: 200 }));
  });

  it('gives up on a destination that does not answer in time; that counts as unavailable', async () => {
    const silent = createServer(() => undefined); // accepts the request, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/dicom-web`;
    try {
      const err = await postInstances(destinationSchema.parse({ url, timeoutMs: 300 }), parts(syntheticInstance())).then(
        () => assert.fail('answered'),
        (e: unknown) => e,
      );
      assert.equal(judgeError([{ itemId: 1, sopInstanceUID: '2.25.1' }], err, DEFAULT_RETRY_POLICY).destination.health, 'unreachable');
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('rejects a destination URL that is not http(s) when the configuration loads', () => {
    assert.equal(destinationSchema.safeParse({ url: 'ftp://archive.example/' }).success, false);
    assert.equal(destinationSchema.safeParse({ url: 'https://a.example/dicom-web', batch: 5 }).success, false, 'unknown key');
  });
});
