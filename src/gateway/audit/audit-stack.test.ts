/**
 * The audit trail through a real gateway between two real Orthanc servers, with its syslog export to a collector
 * this test runs: instances with planted patient data are stored (STOW-RS), forwarded, quarantined, retried,
 * discarded, dry-run, queried and retrieved. Every step leaves its row and its syslog message, and neither the
 * rows, the trail's file, nor the messages (their XML, base64 details decoded) hold any planted value, in any of
 * the forms a name, an ID or a date takes.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FORWARD_EVERYTHING_RULES, startStack, type Stack } from '../../../test/harness/gateway-stack.js';
import { orthancJson } from '../../../test/harness/orthanc.js';
import { multipartBody, newTestBoundary, stowContentType } from '../../../test/harness/stow-body.js';
import { startSyslogCollector, type SyslogCollector } from '../../../test/harness/syslog-collector.js';
import { allValues, auditMessageProblems, parseXmlDocuments, rowDetails } from '../../../test/support/atna-check.js';
import { syntheticInstance, uidFromSeed } from '../../../test/support/synthetic-instance.js';
import { waitFor } from '../../../test/support/wait-for.js';
import type { AuditRecord } from './audit-chain.js';
import { AUDIT_FILE, AuditTrail } from './audit-trail.js';

/** Hélène Anne Lefèvre, Patient ID 0012345678, born 23 September 1970, studied on 4 March 2021. */
const PATIENT = {
  PatientName: 'Lefèvre^Hélène^Anne',
  PatientID: '0012345678',
  PatientBirthDate: '19700923',
  StudyDate: '20210304',
  SeriesDate: '20210304',
  ContentDate: '20210304',
  AccessionNumber: 'ACC77123',
  ReferringPhysicianName: 'Okafor^Chidi',
  OtherPatientIDs: 'MRN-5550123',
};
const STUDY = 'audit-stack-study';

/** Planted values, folded (NFKD, no marks, lower case) like the text they are looked for in. */
const PLANTED = ['lefevre', 'helene', 'okafor', 'chidi', '0012345678', '19700923', '1970-09-23', '20210304', '2021-03-04', 'acc77123', 'mrn-5550123', '5550123'];
const fold = (text: string): string => text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();

function plantedIn(text: string): string[] {
  const folded = fold(text);
  return PLANTED.filter((p) => folded.includes(p));
}

const instance = (seed: string, overrides: Record<string, unknown> = {}): Uint8Array =>
  syntheticInstance({ seed, overrides: { ...PATIENT, __study: STUDY, ...overrides } });

describe('the audit trail of a real gateway stack, exported to a syslog collector', () => {
  let collector: SyslogCollector;
  let stack: Stack;
  let trailPath: string;
  const released = instance('audit-released');
  // withheld by de-identification: Burned In Annotation YES, and the patient's name left in a kept attribute
  const burnedIn = instance('audit-burned-in', { BurnedInAnnotation: 'YES' });
  const leftover = instance('audit-leftover', { Manufacturer: 'Hélène Lefèvre Imaging' });
  const deidOnly = instance('audit-deid-only', { __study: 'audit-stack-study-2' });

  before(async () => {
    collector = await startSyslogCollector({ transport: 'tcp' });
    stack = await startStack({
      rules: FORWARD_EVERYTHING_RULES,
      config: {
        auth: { mode: 'off' },
        audit: { syslog: { host: '127.0.0.1', port: collector.port, transport: 'tcp', retryBaseMs: 50, retryCapMs: 500, batch: 5 } },
      },
    });
    trailPath = join(stack.dataDir, 'data', AUDIT_FILE);
  });
  after(async () => {
    await stack?.stop();
    await collector?.stop();
  });

  const rows = (): AuditRecord[] => {
    const trail = new AuditTrail(trailPath, { readonly: true });
    try {
      return trail.query({ limit: 10_000 });
    } finally {
      trail.close();
    }
  };
  const ofType = (type: AuditRecord['type']): AuditRecord[] => rows().filter((r) => r.type === type);
  const quarantined = async (): Promise<Array<{ id: number; reason: string }>> =>
    ((await (await fetch(`${stack.url}/api/quarantine`)).json()) as { items: Array<{ id: number; reason: string }> }).items;

  it('records each step, exports each row once, and holds none of the planted values', { timeout: 240_000 }, async () => {
    // clinical STOW-RS through the tap: three instances into the PACS and the research pipeline
    const boundary = newTestBoundary();
    const stow = await fetch(`${stack.url}/dicom-web/studies`, {
      method: 'POST',
      headers: { 'content-type': stowContentType(boundary), accept: 'application/dicom+json' },
      body: new Uint8Array(multipartBody([{ bytes: released }, { bytes: burnedIn }, { bytes: leftover }], boundary)),
    });
    assert.equal(stow.status, 200, await stow.clone().text());
    await stow.arrayBuffer();

    await waitFor('the released instance in the archive', async () => (await orthancJson<string[]>(stack.archive!, '/instances')).length === 1, 60_000);
    const held = await waitFor('two instances quarantined', async () => {
      const items = await quarantined();
      return items.length === 2 ? items : undefined;
    }, 60_000);
    const burned = held.find((i) => /Burned In Annotation/i.test(i.reason))!;
    const named = held.find((i) => i !== burned)!;
    assert.ok(burned && named, JSON.stringify(held));

    // a query with the patient's name and ID in its keys, and a retrieve of the study
    const studyUid = uidFromSeed(`${STUDY}/study`);
    const qido = await fetch(`${stack.url}/dicom-web/studies?PatientName=${encodeURIComponent('Lefèvre^Hélène*')}&PatientID=0012345678&StudyDate=20210304`, { headers: { accept: 'application/dicom+json' } });
    assert.equal(qido.status, 200);
    await qido.arrayBuffer();
    const wado = await fetch(`${stack.url}/dicom-web/studies/${studyUid}/metadata`, { headers: { accept: 'application/dicom+json' } });
    assert.equal(wado.status, 200);
    await wado.arrayBuffer();

    // the operator retries one (it is withheld again) and discards the other; a dry run; a bad retry
    assert.equal((await fetch(`${stack.url}/api/quarantine/${burned.id}/retry`, { method: 'POST' })).status, 200);
    assert.equal((await fetch(`${stack.url}/api/quarantine/${named.id}`, { method: 'DELETE' })).status, 200);
    assert.equal((await fetch(`${stack.url}/api/quarantine/999999/retry`, { method: 'POST' })).status, 404);
    const dry = await fetch(`${stack.url}/api/rules/dry-run?client=${encodeURIComponent('Okafor Chidi')}`, { method: 'POST', headers: { 'content-type': 'application/dicom' }, body: new Uint8Array(released) });
    assert.equal(dry.status, 200);
    assert.ok(plantedIn(await dry.text()).length > 0, 'the dry run shows the operator the values (that is why it is audited)');
    await waitFor('the retried instance quarantined again', () => ofType('quarantine').length >= 3, 60_000);

    // the de-identify-only endpoint
    const b2 = newTestBoundary();
    const ingest = await fetch(`${stack.url}/deid/dicom-web/studies`, { method: 'POST', headers: { 'content-type': stowContentType(b2), accept: 'application/dicom+json' }, body: new Uint8Array(multipartBody([{ bytes: deidOnly }], b2)) });
    assert.ok(ingest.status === 200 || ingest.status === 202, String(ingest.status));
    await ingest.arrayBuffer();
    await waitFor('the de-identify-only instance forwarded', () => ofType('forward').reduce((n, r) => n + Number(r.detail?.instances ?? 0), 0) >= 2, 60_000);

    // what the trail holds
    const all = rows();
    const types = new Set(all.map((r) => r.type));
    for (const t of ['config-load', 'key-use', 'clinical-store', 'clinical-query', 'clinical-retrieve', 'research-ingest', 'forward', 'quarantine', 'retry', 'discard', 'dry-run'] as const) {
      assert.ok(types.has(t), `a ${t} row: ${[...types].join(', ')}`);
    }
    const [config] = ofType('config-load');
    assert.equal(config!.actor, 'gateway');
    assert.match(String(config!.detail?.rulesHash), /^[0-9a-f]{64}$/);
    const forward = ofType('forward')[0]!;
    assert.match(String(ofType('key-use')[0]!.detail?.keyId), /^sha256:[0-9a-f]{16}$/);
    assert.equal(forward.detail?.keyId, ofType('key-use')[0]!.detail?.keyId, 'the forward names the key its pseudonyms were made with');
    assert.deepEqual({ destination: forward.detail?.destination, rule: forward.detail?.rule, instances: forward.detail?.instances }, { destination: 'research', rule: 'everything', instances: 1 });
    const q = ofType('quarantine');
    assert.deepEqual(q.map((r) => [r.outcome, r.detail?.destination, r.detail?.reason]).slice(0, 3), Array(3).fill(['failure', 'research', 'deidentification']));
    assert.deepEqual(q.map((r) => r.detail?.item).sort(), [burned.id, burned.id, named.id].sort());
    const retries = ofType('retry');
    assert.deepEqual(retries.map((r) => [r.outcome, r.detail?.item, r.actor, r.address, r.route]), [
      ['success', burned.id, 'anonymous', '127.0.0.1', '/api/quarantine'],
      ['failure', 999999, 'anonymous', '127.0.0.1', '/api/quarantine'],
    ]);
    assert.equal(retries[1]!.detail?.reason, 'NOT_FOUND');
    assert.deepEqual(ofType('discard').map((r) => [r.outcome, r.detail?.item]), [['success', named.id]]);
    const [dryRow] = ofType('dry-run');
    assert.deepEqual({ rule: dryRow!.detail?.rule, decision: dryRow!.detail?.decision, released: dryRow!.detail?.released }, { rule: 'everything', decision: 'forward', released: 1 });
    const query = ofType('clinical-query')[0]!;
    assert.equal(query.detail?.queryKeys, 'PatientID,PatientName,StudyDate', 'the names of the query keys, never their values');
    assert.equal(ofType('clinical-retrieve')[0]!.studyUid, studyUid, 'the study as the client named it in the URL');

    // exported: one message per row, in order, none twice
    await waitFor('every row exported', () => collector.messages.length >= all.length, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    const now = rows();
    assert.equal(collector.messages.length, now.length);
    assert.deepEqual(collector.errors, []);
    const docs = parseXmlDocuments(collector.messages.map((m) => m.msg));
    for (const [i, d] of docs.entries()) {
      assert.equal(d.error, undefined, d.error);
      assert.deepEqual(auditMessageProblems(d.ok!), [], collector.messages[i]!.msg);
      const details = rowDetails(d.ok!);
      assert.equal(Number(details.seq), now[i]!.seq);
      assert.equal(details.hash, now[i]!.hash);
      assert.equal(collector.messages[i]!.msgId, now[i]!.type);
    }

    // no planted value anywhere: rows, messages (raw and decoded), the file itself
    for (const r of now) assert.deepEqual(plantedIn(JSON.stringify(r)), [], `row ${r.seq} (${r.type})`);
    for (const [i, m] of collector.messages.entries()) {
      assert.deepEqual(plantedIn(m.raw.toString('utf8')), [], `message ${i}`);
      assert.deepEqual(plantedIn(allValues(docs[i]!.ok!).join('\n')), [], `message ${i}, decoded`);
    }
    // the file and its write-ahead log, as they are on disk while the gateway runs
    for (const suffix of ['', '-wal']) {
      const bytes = await readFile(trailPath + suffix).catch(() => Buffer.alloc(0));
      assert.deepEqual(plantedIn(bytes.toString('latin1')), [], `${AUDIT_FILE}${suffix} (latin-1)`);
      assert.deepEqual(plantedIn(bytes.toString('utf8')), [], `${AUDIT_FILE}${suffix} (UTF-8)`);
      assert.deepEqual(plantedIn(bytes.toString('utf16le')), [], `${AUDIT_FILE}${suffix} (UTF-16)`);
    }
    const trail = new AuditTrail(trailPath, { readonly: true });
    try {
      assert.equal(trail.verify().ok, true);
    } finally {
      trail.close();
    }
  });
});
