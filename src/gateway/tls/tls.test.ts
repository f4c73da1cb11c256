import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { connect, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { FIXTURE_UIDS, fixture } from '../../../test/harness/fixtures.js';
import { FORWARD_EVERYTHING_RULES, startStack, TEST_DEID_KEY_HEX, type Stack } from '../../../test/harness/gateway-stack.js';
import { orthancJson, startOrthanc, uploadInstance, type OrthancServer } from '../../../test/harness/orthanc.js';
import { createTestCa, type IssuedCertificate, type TestCa } from '../../../test/support/test-ca.js';
import { waitFor } from '../../../test/support/wait-for.js';
import { AnofairError } from '../../errors/anofair-error.js';
import { createLogger } from '../../observability/logger.js';
import { parseConfig } from '../config/config-loader.js';
import { createGateway, type Gateway } from '../server.js';

/**
 * TLS on both sides of the gateway, with real servers on loopback: the HTTPS listener and its certificate
 * reload, the clinical relay to an HTTPS (and mutual-TLS) Orthanc, and forwarding to an HTTPS research archive.
 * Every certificate comes from a CA made for the run (test/support/test-ca.ts).
 */

const CT = 'pydicom/CT_small.dcm';

interface TestGateway {
  gateway: Gateway;
  logs: string[];
  stop(): Promise<void>;
}

function captureLogs(): { logs: string[]; logger: ReturnType<typeof createLogger> } {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  return { logs, logger: createLogger({ level: 'debug', destination }) };
}

function configOf(extra: Record<string, unknown>, dataDir: string) {
  return parseConfig(
    stringify({
      server: { host: '127.0.0.1', port: 0, ...(extra.server as object) },
      upstream: { url: 'http://127.0.0.1:9/dicom-web', connectTimeoutMs: 2_000, ...(extra.upstream as object) },
      data: join(dataDir, 'data'),
      auth: { mode: 'off' },
      ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'server' && k !== 'upstream')),
    }),
    { source: 'tls test' },
  );
}

/** A gateway without research destinations (the clinical relay only), started on a free port. */
async function startGateway(extra: Record<string, unknown>): Promise<TestGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'anofair-tls-gw-'));
  const { logs, logger } = captureLogs();
  try {
    const gateway = await createGateway(configOf(extra, dataDir), { logger, env: { ANOFAIR_DEID_KEY: TEST_DEID_KEY_HEX } });
    await gateway.start();
    return {
      gateway,
      logs,
      async stop() {
        await gateway.stop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** createGateway's refusal of a configuration (it reads every TLS file before anything starts). */
async function refusal(extra: Record<string, unknown>): Promise<{ error: AnofairError; logs: string[] }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'anofair-tls-cfg-'));
  const { logs, logger } = captureLogs();
  try {
    await createGateway(configOf(extra, dataDir), { logger, env: { ANOFAIR_DEID_KEY: TEST_DEID_KEY_HEX } });
  } catch (err) {
    assert.ok(err instanceof AnofairError, String(err));
    return { error: err, logs };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  assert.fail('expected the start to be refused');
}

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** A fresh TLS connection (no session reuse) to the gateway, verified with `ca`. */
function tlsConnect(url: string, options: { ca: string; cert?: string; key?: string }): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: portOf(url), ...options });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('TLS connect timed out')));
  });
}

async function servedFingerprint(url: string, ca: string): Promise<string> {
  const socket = await tlsConnect(url, { ca });
  try {
    return socket.getPeerCertificate().fingerprint256;
  } finally {
    socket.destroy();
  }
}

/** GET /healthz on an open socket (HTTP/1.1 keep-alive): its status code. */
function healthzOn(socket: TLSSocket): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        socket.off('data', onData);
        resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  });
}

async function get(url: string, connect: { ca?: string; cert?: string; key?: string } = {}): Promise<{ status: number; body: string }> {
  const agent = new Agent({ connect });
  try {
    const res = await request(url, { dispatcher: agent, headers: { accept: 'application/dicom+json' } });
    return { status: res.statusCode, body: await res.body.text() };
  } finally {
    await agent.close();
  }
}

function install(pair: Pick<IssuedCertificate, 'cert' | 'key'>, files: { certFile: string; keyFile: string }): void {
  writeFileSync(files.certFile, pair.cert);
  writeFileSync(files.keyFile, pair.key);
}

describe('the HTTPS listener', () => {
  let ca: TestCa;
  let first: IssuedCertificate;
  let second: IssuedCertificate;
  let dir: string;
  let files: { certFile: string; keyFile: string };

  before(() => {
    ca = createTestCa();
    first = ca.issueServer('gateway-1');
    second = ca.issueServer('gateway-2');
    dir = mkdtempSync(join(tmpdir(), 'anofair-tls-files-'));
  });
  after(() => {
    ca?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('reload on request and on SIGHUP', () => {
    let gw: TestGateway;
    before(async () => {
      files = { certFile: join(dir, 'manual.crt'), keyFile: join(dir, 'manual.key') };
      install(first, files);
      // 0: only reload() and SIGHUP reload, so the file watch cannot do their work
      gw = await startGateway({ server: { tls: { ...files, reloadIntervalMs: 0 } } });
    });
    after(async () => {
      await gw?.stop();
    });

    it('answers /healthz over HTTPS with the configured certificate, verified with the test CA', async () => {
      assert.match(gw.gateway.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const res = await get(`${gw.gateway.url}/healthz`, { ca: ca.ca });
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.body), { status: 'ok' });
      assert.equal(await servedFingerprint(gw.gateway.url, ca.ca), fingerprint(first.cert));
      await assert.rejects(get(`${gw.gateway.url}/healthz`), (err: NodeJS.ErrnoException) => err.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'a client without the test CA does not trust it');
      assert.ok(gw.gateway.describe()[0]!.includes('https://'));
    });

    it('switches new connections to a renewed pair on reload() and on SIGHUP; open connections and the process stay', async () => {
      const url = gw.gateway.url;
      const open = await tlsConnect(url, { ca: ca.ca });
      try {
        assert.equal(open.getPeerCertificate().fingerprint256, fingerprint(first.cert));
        install(second, files);
        assert.equal(gw.gateway.reloadTls(), true);
        assert.equal(await servedFingerprint(url, ca.ca), fingerprint(second.cert), 'a new connection sees the new certificate');
        assert.equal(await healthzOn(open), 200, 'the connection opened before the reload still works');
        assert.equal(open.getPeerCertificate().fingerprint256, fingerprint(first.cert));
        assert.equal(gw.gateway.url, url, 'same listener, same port');

        install(first, files);
        assert.ok(process.listenerCount('SIGHUP') > 0, 'the gateway listens for SIGHUP');
        const pid = process.pid;
        process.kill(pid, 'SIGHUP');
        await waitFor('the first certificate again after SIGHUP', async () => (await servedFingerprint(url, ca.ca)) === fingerprint(first.cert), 10_000, 50);
        assert.equal(process.pid, pid);
        assert.equal(await healthzOn(open), 200);
        assert.ok(gw.logs.some((l) => l.includes('TLS certificate reloaded')));
      } finally {
        open.destroy();
      }
    });

    it('refuses a broken new pair with a warning and keeps the old one', async () => {
      const url = gw.gateway.url;
      const current = await servedFingerprint(url, ca.ca);
      // the second certificate with the first key: a pair that does not belong together
      install({ cert: second.cert, key: first.key }, files);
      assert.equal(gw.gateway.reloadTls(), false);
      assert.equal(await servedFingerprint(url, ca.ca), current);
      writeFileSync(files.certFile, 'not a certificate\n');
      assert.equal(gw.gateway.reloadTls(), false);
      assert.equal(await servedFingerprint(url, ca.ca), current);
      const warnings = gw.logs.filter((l) => l.includes('TLS certificate reload refused'));
      assert.equal(warnings.length, 2);
      assert.match(warnings[0]!, /"level":40/);
      assert.match(warnings[0]!, /server\.tls/);
      assert.match(warnings[1]!, /server\.tls\.certFile/);
      for (const w of warnings) assert.ok(!w.includes('PRIVATE KEY') && !w.includes('not a certificate'), 'no file content in the log');
      install(first, files);
      assert.equal(gw.gateway.reloadTls(), true);
    });

    it('stops listening for SIGHUP when stopped', async () => {
      const other = await startGateway({ server: { tls: { ...files, reloadIntervalMs: 0 } } });
      const listening = process.listenerCount('SIGHUP');
      await other.stop();
      assert.equal(process.listenerCount('SIGHUP'), listening - 1);
    });
  });

  it('reloads when the files change (reloadIntervalMs), and keeps the old pair when the new one is broken', async () => {
    const watched = { certFile: join(dir, 'watched.crt'), keyFile: join(dir, 'watched.key') };
    install(first, watched);
    const gw = await startGateway({ server: { tls: { ...watched, reloadIntervalMs: 100 } } });
    try {
      const url = gw.gateway.url;
      assert.equal(await servedFingerprint(url, ca.ca), fingerprint(first.cert));
      install(second, watched);
      await waitFor('the renewed certificate after the files changed', async () => (await servedFingerprint(url, ca.ca)) === fingerprint(second.cert), 10_000, 50);
      writeFileSync(watched.keyFile, first.key);
      await waitFor('the refusal of the broken pair', () => gw.logs.some((l) => l.includes('TLS certificate reload refused')), 10_000, 50);
      assert.equal(await servedFingerprint(url, ca.ca), fingerprint(second.cert));
    } finally {
      await gw.stop();
    }
  });

  it('with requestClientCert, serves only clients with a certificate from caFile', async () => {
    const pair = { certFile: join(dir, 'mtls.crt'), keyFile: join(dir, 'mtls.key') };
    install(first, pair);
    const client = ca.issueClient('probe');
    const gw = await startGateway({ server: { tls: { ...pair, caFile: ca.caFile, requestClientCert: true } } });
    try {
      assert.equal((await get(`${gw.gateway.url}/healthz`, { ca: ca.ca, cert: client.cert, key: client.key })).status, 200);
      await assert.rejects(get(`${gw.gateway.url}/healthz`, { ca: ca.ca }));
    } finally {
      await gw.stop();
    }
  });
});

describe('TLS configuration, checked at start', () => {
  let ca: TestCa;
  let dir: string;
  before(() => {
    ca = createTestCa();
    dir = mkdtempSync(join(tmpdir(), 'anofair-tls-cfg-files-'));
  });
  after(() => {
    ca?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('fails with CONFIG_INVALID naming the setting and the file, never the content', async () => {
    const missing = join(dir, 'absent.pem');
    let { error } = await refusal({ upstream: { url: 'https://127.0.0.1:9/dicom-web', tls: { caFile: missing } } });
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.match(error.message, /upstream\.tls\.caFile: cannot read .*absent\.pem \(ENOENT\)/);

    const notPem = join(dir, 'secret.txt');
    writeFileSync(notPem, 'SECRET-CONTENT-42\n');
    ({ error } = await refusal({ upstream: { tls: { caFile: notPem } } }));
    assert.match(error.message, /upstream\.tls\.caFile: .*secret\.txt is not a PEM file/);
    assert.ok(!error.message.includes('SECRET-CONTENT-42'));

    const client = ca.issueClient('cfg-client');
    ({ error } = await refusal({ destinations: { research: { url: 'https://127.0.0.1:9/dicom-web', tls: { certFile: client.certFile, keyFile: missing } } } }));
    assert.match(error.message, /destinations\.research\.tls\.keyFile: cannot read .*absent\.pem/);

    const other = ca.issueClient('cfg-other');
    ({ error } = await refusal({ upstream: { tls: { certFile: client.certFile, keyFile: other.keyFile } } }));
    assert.match(error.message, /upstream\.tls: the PEM files cannot be used/);
    assert.ok(!error.message.includes('PRIVATE KEY'));

    ({ error } = await refusal({ server: { tls: { certFile: client.certFile, keyFile: missing } } }));
    assert.match(error.message, /server\.tls\.keyFile: cannot read/);
    ({ error } = await refusal({ server: { tls: { certFile: client.certFile, keyFile: other.keyFile } } }));
    assert.match(error.message, /server\.tls: the certificate and key cannot be used together/);
  });

  it('refuses half a client pair and mutual TLS without a CA when the file loads, and resolves paths against the file', () => {
    assert.throws(() => parseConfig('upstream: { url: https://pacs/dicom-web, tls: { certFile: a.crt } }'), /upstream\.tls\.keyFile: certFile and keyFile go together/);
    assert.throws(() => parseConfig('server: { tls: { certFile: a.crt, keyFile: a.key, requestClientCert: true } }\nupstream: { url: http://pacs/dicom-web }'), /server\.tls\.caFile: requestClientCert needs caFile/);
    const config = parseConfig(
      'server: { tls: { certFile: tls/gw.crt, keyFile: /abs/gw.key } }\nupstream: { url: https://pacs/dicom-web, tls: { caFile: ca.pem } }\ndestinations: { research: { url: https://a/dicom-web, tls: { caFile: ../ca.pem } } }\nauth: { mode: "off" }',
      { baseDir: '/etc/anofair' },
    );
    assert.equal(config.server.tls?.certFile, '/etc/anofair/tls/gw.crt');
    assert.equal(config.server.tls?.keyFile, '/abs/gw.key');
    assert.equal(config.upstream.tls?.caFile, '/etc/anofair/ca.pem');
    assert.equal(config.destinations.research?.tls?.caFile, '/etc/ca.pem');
    assert.equal(config.upstream.tls?.rejectUnauthorized, true);
    assert.equal('tls' in config.server && config.server.tls !== undefined, true);
    assert.equal('tls' in parseConfig('upstream: { url: http://pacs/dicom-web }').upstream, false, 'no tls key when none is configured');
  });

  it('warns at start when rejectUnauthorized is false', async () => {
    const gw = await startGateway({ upstream: { url: 'https://127.0.0.1:9/dicom-web', tls: { rejectUnauthorized: false } } });
    try {
      const warning = gw.logs.find((l) => l.includes('rejectUnauthorized is false'));
      assert.ok(warning, 'a warning');
      assert.match(warning, /"level":40/);
      assert.match(warning, /"setting":"upstream\.tls"/);
    } finally {
      await gw.stop();
    }
  });
});

describe('TLS to the clinical PACS', () => {
  let ca: TestCa;
  let gatewayClient: IssuedCertificate;
  let pacs: OrthancServer;
  let mtlsPacs: OrthancServer;
  const study = FIXTURE_UIDS[CT].study;

  before(async () => {
    ca = createTestCa();
    gatewayClient = ca.issueClient('anofair-gateway');
    pacs = await startOrthanc({ name: 'TLS-PACS', tls: { certificateFile: ca.issueServer('pacs').pemFile, client: { ca: ca.ca } } });
    // only the name pacs.test in its certificate: the gateway reaches it by address and verifies upstream.tls.servername
    mtlsPacs = await startOrthanc({
      name: 'MTLS-PACS',
      tls: {
        certificateFile: ca.issueServer('mtls-pacs', 'DNS:pacs.test').pemFile,
        trustedClientCertificatesFile: ca.caFile,
        client: { ca: ca.ca, cert: gatewayClient.cert, key: gatewayClient.key, servername: 'pacs.test' },
      },
    });
    for (const server of [pacs, mtlsPacs]) await uploadInstance(server, fixture(CT));
  });
  after(async () => {
    await pacs?.dispose();
    await mtlsPacs?.dispose();
    ca?.dispose();
  });

  const qido = async (upstream: Record<string, unknown>): Promise<{ status: number; body: string; logs: string[] }> => {
    const gw = await startGateway({ upstream });
    try {
      return { ...(await get(`${gw.gateway.url}/dicom-web/studies?StudyInstanceUID=${study}`)), logs: gw.logs };
    } finally {
      await gw.stop();
    }
  };

  it('relays QIDO-RS to an HTTPS PACS whose certificate chains to upstream.tls.caFile', async () => {
    const res = await qido({ url: pacs.dicomWebUrl, tls: { caFile: ca.caFile } });
    assert.equal(res.status, 200, res.body);
    assert.ok(res.body.includes(study));
  });

  it('answers 502 without the PACS address when the certificate cannot be verified; the log says why', async () => {
    const res = await qido({ url: pacs.dicomWebUrl });
    assert.equal(res.status, 502, res.body);
    const body = JSON.parse(res.body) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'UPSTREAM_UNREACHABLE');
    assert.match(body.error.message, /TLS/);
    for (const leak of [pacs.url, `127.0.0.1:${pacs.httpPort}`, String(pacs.httpPort)]) assert.ok(!res.body.includes(leak), `body names ${leak}`);
    const line = res.logs.find((l) => l.includes('request failed'));
    assert.ok(line, 'a warning in the log');
    assert.ok(line.includes(pacs.url), 'the log names the PACS');
    assert.match(line, /"tls":"[^"]*certificate/);
  });

  it('presents upstream.tls.certFile/keyFile to a PACS that requires client certificates, and fails without', async () => {
    const tls = { caFile: ca.caFile, servername: 'pacs.test' };
    const ok = await qido({ url: mtlsPacs.dicomWebUrl, tls: { ...tls, certFile: gatewayClient.certFile, keyFile: gatewayClient.keyFile } });
    assert.equal(ok.status, 200, ok.body);
    assert.ok(ok.body.includes(study));

    // TLS 1.3: the client's side of the handshake completes; the PACS then closes without answering
    const refused = await qido({ url: mtlsPacs.dicomWebUrl, tls });
    assert.equal(refused.status, 502, refused.body);
    assert.ok(!refused.body.includes(mtlsPacs.url));

    const wrongName = await qido({ url: mtlsPacs.dicomWebUrl, tls: { caFile: ca.caFile, certFile: gatewayClient.certFile, keyFile: gatewayClient.keyFile } });
    assert.equal(wrongName.status, 502, 'the certificate names pacs.test, not 127.0.0.1');
    assert.match(wrongName.body, /ERR_TLS_CERT_ALTNAME_INVALID/);
  });
});

describe('forwarding to an HTTPS research archive (mutual TLS)', () => {
  let ca: TestCa;
  let archive: OrthancServer;
  let stack: Stack;

  before(async () => {
    ca = createTestCa();
    const gatewayClient = ca.issueClient('anofair-gateway');
    archive = await startOrthanc({
      name: 'TLS-ARCHIVE',
      tls: { certificateFile: ca.issueServer('archive').pemFile, trustedClientCertificatesFile: ca.caFile, client: { ca: ca.ca, cert: gatewayClient.cert, key: gatewayClient.key } },
    });
    stack = await startStack({
      archive: false,
      rules: FORWARD_EVERYTHING_RULES,
      pacsOptions: { tls: { certificateFile: ca.issueServer('stack-pacs').pemFile, client: { ca: ca.ca } } },
      config: {
        auth: { mode: 'off' },
        upstream: { tls: { caFile: ca.caFile } },
        destinations: { research: { url: archive.dicomWebUrl, timeoutMs: 10_000, tls: { caFile: ca.caFile, certFile: gatewayClient.certFile, keyFile: gatewayClient.keyFile } } },
      },
    });
  });
  after(async () => {
    await stack?.stop();
    await archive?.dispose();
    ca?.dispose();
  });

  it('stores through the gateway in the HTTPS PACS and forwards the de-identified instance to the archive', async () => {
    const boundary = 'tls-boundary-0123456789';
    const body = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`), fixture(CT), Buffer.from(`\r\n--${boundary}--\r\n`)]);
    const res = await fetch(`${stack.url}/dicom-web/studies`, {
      method: 'POST',
      headers: { 'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`, accept: 'application/dicom+json' },
      body: new Uint8Array(body),
    });
    assert.equal(res.status, 200, await res.clone().text());
    await res.arrayBuffer();
    const [id] = await waitFor('the instance in the archive', async () => {
      const list = await orthancJson<string[]>(archive, '/instances');
      return list.length > 0 ? list : undefined;
    }, 60_000, 100);
    const tags = await orthancJson<Record<string, string>>(archive, `/instances/${id}/simplified-tags`);
    assert.equal(tags.PatientIdentityRemoved, 'YES');
    assert.notEqual(tags.StudyInstanceUID, FIXTURE_UIDS[CT].study);
    assert.equal((await orthancJson<string[]>(stack.pacs, '/instances')).length, 1, 'the clinical copy is in the HTTPS PACS');
  });
});
