import assert from 'node:assert/strict';
import { parseConfig } from '../config/config-loader.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { input } from 'zod';
import { startSyslogCollector, type SyslogCollector } from '../../../test/harness/syslog-collector.js';
import { auditMessageProblems, parseXmlDocuments, rowDetails, type XmlElement } from '../../../test/support/atna-check.js';
import { createTestCa } from '../../../test/support/test-ca.js';
import { waitFor } from '../../../test/support/wait-for.js';
import { ATNA_MAPPING } from './atna-message.js';
import { auditSyslogSchema, type AuditSyslogConfig } from './audit-config.js';
import { AUDIT_EVENT_TYPES, type AuditEvent, type AuditEventType } from './audit-event.js';
import { AUDIT_FILE, AuditTrail } from './audit-trail.js';
import { SyslogExport } from './syslog-export.js';
import type { SyslogTransport } from './syslog-transport.js';

const work = mkdtempSync(join(tmpdir(), 'anofair-syslog-'));
after(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const freshTrail = (): AuditTrail => new AuditTrail(join(work, `t${++n}`, AUDIT_FILE));
const HOSTNAME = 'gw-test-1';

const config = (over: Partial<input<typeof auditSyslogSchema>> & { port: number }): AuditSyslogConfig =>
  auditSyslogSchema.parse({ host: '127.0.0.1', transport: 'tcp', retryBaseMs: 20, retryCapMs: 200, connectTimeoutMs: 2_000, ...over });

/** One event of the given type, as its producer writes it. */
function eventOf(type: AuditEventType, i = 0): AuditEvent {
  const system = { actor: 'gateway', credential: 'system' as const };
  const client = { actor: 'ct-export', credential: 'api-token' as const, address: '127.0.0.1', method: 'GET', route: '/dicom-web', status: 200 };
  switch (type) {
    case 'auth-failure':
    case 'auth-throttled':
      return { type, outcome: 'failure', credential: 'none', address: '10.1.2.3', method: 'GET', route: '/dicom-web', status: type === 'auth-failure' ? 401 : 429, detail: { reason: 'unknown' } };
    case 'access-denied':
      return { type, outcome: 'failure', ...client, status: 403, detail: { needs: 'privacy' } };
    case 'clinical-query':
      return { type, outcome: 'success', ...client, level: 'studies', detail: { queryKeys: 'PatientID,StudyDate' } };
    case 'clinical-retrieve':
      return { type, outcome: 'success', ...client, level: 'studies/metadata', studyUid: `1.2.826.0.1.3680043.8.498.${i + 1}` };
    case 'clinical-store':
    case 'research-ingest':
      return { type, outcome: 'success', ...client, method: 'POST', studyUid: '1.2.826.0.1.3680043.8.498.9' };
    case 'forward':
      return { type, outcome: 'success', ...system, detail: { destination: 'research', instances: 2, rule: 'chest-radiographs', keyId: 'sha256:0011223344556677' } };
    case 'quarantine':
      return { type, outcome: 'failure', ...system, detail: { item: 7, destination: 'research', reason: 'deidentification' } };
    case 'config-load':
      return { type, outcome: 'success', ...system, detail: { rulesSource: 'embedded', rulesHash: 'ab'.repeat(32) } };
    case 'key-use':
      return { type, outcome: 'success', ...system, detail: { keyId: 'sha256:0011223344556677', purpose: 'pseudonymisation' } };
    default:
      return { type, outcome: 'success', ...client, method: 'POST', route: '/api/quarantine', detail: { item: 7 } };
  }
}

function parsed(collector: SyslogCollector): XmlElement[] {
  const results = parseXmlDocuments(collector.messages.map((m) => m.msg));
  return results.map((r, i) => {
    assert.equal(r.error, undefined, `message ${i} is not well-formed XML: ${r.error}`);
    return r.ok!;
  });
}

const seqsOf = (collector: SyslogCollector): number[] => parsed(collector).map((x) => Number(rowDetails(x).seq));

async function exportFailures(registry: Registry): Promise<number> {
  return (await registry.getSingleMetric('anofair_audit_export_failures_total')!.get()).values[0]?.value ?? 0;
}

describe('the audit trail exported as IHE ATNA syslog', () => {
  it('over UDP: every event type as one RFC 5424 message (authpriv, MSGID the type) holding a well-formed PS3.15 AuditMessage', async () => {
    const collector = await startSyslogCollector({ transport: 'udp' });
    const trail = freshTrail();
    const exporter = new SyslogExport({ trail, config: config({ port: collector.port, transport: 'udp' }), hostname: HOSTNAME });
    try {
      for (const type of AUDIT_EVENT_TYPES) trail.record(eventOf(type));
      exporter.start();
      await waitFor('a message per event', () => collector.messages.length >= AUDIT_EVENT_TYPES.length, 10_000);
      assert.deepEqual(collector.errors, []);
      const rows = trail.query({ limit: 100 });
      const xml = parsed(collector);
      for (const [i, m] of collector.messages.entries()) {
        const row = rows[i]!;
        assert.equal(m.msgId, row.type);
        assert.equal(m.facility, 10, 'authpriv');
        assert.equal(m.severity, row.outcome === 'success' ? 5 : 4, 'notice, or warning for a failure');
        assert.equal(m.hostname, HOSTNAME);
        assert.equal(m.appName, 'anofair');
        assert.equal(m.procId, String(process.pid));
        assert.equal(m.timestamp, new Date(row.time).toISOString());
        assert.equal(m.structuredData, '-');
        assert.ok(m.bom, 'MSG starts with the UTF-8 BOM (RFC 5424 6.4)');
        const doc = xml[i]!;
        assert.deepEqual(auditMessageProblems(doc), [], `${row.type}: ${m.msg}`);
        const mapping = ATNA_MAPPING[row.type];
        const eventId = doc.children[0]!.children[0]!;
        assert.deepEqual(eventId.attrib, { 'csd-code': mapping.eventId.code, codeSystemName: 'DCM', originalText: mapping.eventId.meaning });
        assert.equal(doc.children[0]!.attrib.EventOutcomeIndicator, row.outcome === 'success' ? '0' : '4');
        const details = rowDetails(doc);
        assert.equal(details.seq, String(row.seq));
        assert.equal(details.hash, row.hash, 'each message carries its row\'s chain hash');
        for (const [k, v] of Object.entries(row.detail ?? {})) assert.equal(details[`detail.${k}`], String(v));
        const source = doc.children.find((c) => c.tag === 'AuditSourceIdentification')!;
        assert.equal(source.attrib.AuditSourceID, HOSTNAME);
        const study = doc.children.find((c) => c.tag === 'ParticipantObjectIdentification' && c.children[0]!.attrib['csd-code'] === '110180');
        assert.equal(study?.attrib.ParticipantObjectID, row.studyUid, 'the study, as Study Instance UID (110180), when the row has one');
      }
      const query = xml[AUDIT_EVENT_TYPES.indexOf('clinical-query')]!;
      const requestor = query.children.find((c) => c.tag === 'ActiveParticipant' && c.attrib.UserIsRequestor === 'true')!;
      assert.deepEqual(requestor.attrib, { UserID: 'ct-export', UserIsRequestor: 'true', NetworkAccessPointID: '127.0.0.1', NetworkAccessPointTypeCode: '2' });
      assert.equal(requestor.children[0]!.attrib['csd-code'], '110153', 'the querying client is the Source (PS3.15 A.5.3.11)');
      const forward = xml[AUDIT_EVENT_TYPES.indexOf('forward')]!;
      const roles = forward.children.filter((c) => c.tag === 'ActiveParticipant').map((p) => [p.attrib.UserID, p.children[0]?.attrib['csd-code']]);
      assert.deepEqual(roles, [['anofair', '110153'], ['research', '110152']], 'an export: the gateway the Source, the archive the Destination');
    } finally {
      await exporter.stop();
      trail.close();
      await collector.stop();
    }
  });

  it('over TCP with the collector down: the events wait and arrive once it is back, none lost and none twice, also across a restart', async () => {
    const collector = await startSyslogCollector({ transport: 'tcp' });
    const registry = new Registry();
    const path = join(work, `t${++n}`, AUDIT_FILE);
    let trail = new AuditTrail(path);
    const c = config({ port: collector.port, transport: 'tcp', batch: 4 });
    let exporter = new SyslogExport({ trail, config: c, hostname: HOSTNAME, registry });
    try {
      exporter.start();
      for (let i = 0; i < 3; i++) trail.record(eventOf('clinical-retrieve', i));
      await waitFor('the first three', () => collector.messages.length === 3, 10_000);
      await collector.stop();
      // the export notices the closed connection when the collector's FIN arrives; a batch written in that
      // instant would be lost (syslog has no acknowledgement), so the test lets it arrive first
      await new Promise((r) => setTimeout(r, 200));
      for (let i = 3; i < 13; i++) trail.record(eventOf('clinical-retrieve', i));
      await waitFor('failed sends while the collector is down', async () => (await exportFailures(registry)) >= 3, 10_000);
      assert.equal(exporter.pending(), 10);
      await collector.start();
      await waitFor('all thirteen', () => collector.messages.length >= 13, 10_000);
      await exporter.stop();
      trail.close();

      // a restart: the cursor is in the trail's file
      trail = new AuditTrail(path);
      for (let i = 13; i < 15; i++) trail.record(eventOf('clinical-retrieve', i));
      exporter = new SyslogExport({ trail, config: c, hostname: HOSTNAME, registry });
      exporter.start();
      await waitFor('the two recorded after the restart', () => collector.messages.length >= 15, 10_000);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(seqsOf(collector), Array.from({ length: 15 }, (_, i) => i + 1), 'each row once, in order');
      assert.deepEqual(collector.errors, []);
      assert.equal(exporter.pending(), 0);
      assert.equal(trail.cursor(exporter.target), 15);
    } finally {
      await exporter.stop();
      trail.close();
      await collector.stop();
    }
  });

  it('over TLS with a configured CA and a client certificate (ATNA node authentication); a collector it cannot trust gets nothing', async () => {
    const ca = createTestCa('AnoFAIR Audit Test CA');
    const other = createTestCa('Someone Else CA');
    const server = ca.issueServer('audit-collector');
    const client = ca.issueClient('anofair-gateway');
    const collector = await startSyslogCollector({ transport: 'tls', tls: { key: server.key, cert: server.cert, ca: ca.ca } });
    const trail = freshTrail();
    const untrusted = freshTrail();
    const registry = new Registry();
    const tls = { caFile: ca.caFile, certFile: client.certFile, keyFile: client.keyFile };
    const exporter = new SyslogExport({ trail, config: config({ port: collector.port, transport: 'tls', tls }), hostname: HOSTNAME });
    const refused = new SyslogExport({ trail: untrusted, config: config({ port: collector.port, transport: 'tls', tls: { ...tls, caFile: other.caFile } }), hostname: HOSTNAME, registry });
    try {
      for (const type of ['config-load', 'key-use', 'forward'] as const) {
        trail.record(eventOf(type));
        untrusted.record(eventOf(type));
      }
      exporter.start();
      refused.start();
      await waitFor('three messages over TLS', () => collector.messages.length >= 3, 10_000);
      await waitFor('the untrusted collector refused', async () => (await exportFailures(registry)) >= 2, 10_000);
      assert.deepEqual(collector.messages.map((m) => m.msgId), ['config-load', 'key-use', 'forward']);
      for (const doc of parsed(collector)) assert.deepEqual(auditMessageProblems(doc), []);
      assert.equal(untrusted.cursor(refused.target), 0, 'nothing counted as sent to a collector whose certificate does not verify');
      assert.equal(refused.pending(), 3);
    } finally {
      await exporter.stop();
      await refused.stop();
      trail.close();
      untrusted.close();
      await collector.stop();
      ca.dispose();
      other.dispose();
    }
  });

  it('sends bounded batches, and a failed batch again from the same cursor', async () => {
    const sends: number[][] = [];
    let failuresLeft = 2;
    const transport: SyslogTransport = {
      async send(messages) {
        if (failuresLeft-- > 0) throw Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
        sends.push(messages.map((m) => Number(/ParticipantObjectID="(\d+)" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="4"/.exec(m.toString('utf8'))![1])));
      },
      async close() {},
    };
    const trail = freshTrail();
    for (let i = 0; i < 10; i++) trail.record(eventOf('clinical-query', i));
    const exporter = new SyslogExport({ trail, config: config({ port: 1, batch: 3 }), transport, hostname: HOSTNAME });
    try {
      exporter.start();
      await waitFor('everything sent', () => exporter.pending() === 0, 10_000);
      assert.deepEqual(sends, [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10]]);
    } finally {
      await exporter.stop();
      trail.close();
    }
  });

  it('reads TLS files relative to the configuration file, and refuses tls: settings without transport tls', () => {
    const config = parseConfig('upstream: { url: "http://127.0.0.1:8042/dicom-web" }\naudit: { syslog: { host: a, port: 6514, tls: { caFile: ca.pem } } }\n', { baseDir: '/etc/anofair' });
    assert.equal(config.audit.syslog?.tls?.caFile, '/etc/anofair/ca.pem');
    assert.equal(auditSyslogSchema.safeParse({ host: 'a', port: 514, transport: 'udp', tls: { caFile: '/etc/ca.pem' } }).success, false);
    assert.equal(auditSyslogSchema.safeParse({ host: 'a', port: 6514, tls: { caFile: '/etc/ca.pem' } }).success, true);
    assert.equal(auditSyslogSchema.parse({ host: 'a', port: 6514 }).transport, 'tls', 'TLS unless told otherwise');
  });
});
