import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { AUDIT_FILE, AuditTrail } from '../gateway/audit/audit-trail.js';
import { parseWhen } from './audit-command.js';
import { buildProgram } from './main.js';

const bin = join(process.cwd(), 'bin', 'anofair.js');
const anofair = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 30_000 });
const DAY = 86_400_000;

/** The command run in this process (the filters are many; each spawn costs a second), its stdout captured. */
async function inProcess(args: string[]): Promise<string> {
  const out: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => out.push(chunk) > 0) as typeof process.stdout.write;
  try {
    await buildProgram().parseAsync(args, { from: 'user' });
  } finally {
    process.stdout.write = write;
  }
  return out.join('');
}

describe('anofair audit', () => {
  let work: string;
  let data: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'anofair-audit-cli-'));
    data = join(work, 'data');
    // three days ago, then today
    let t = Date.now() - 3 * DAY;
    const trail = new AuditTrail(join(data, AUDIT_FILE), { now: () => t });
    trail.record({ type: 'config-load', outcome: 'success', actor: 'gateway', credential: 'system', detail: { rulesSource: 'embedded' } });
    trail.record({ type: 'auth-failure', outcome: 'failure', credential: 'none', address: '10.0.0.9', method: 'GET', route: '/dicom-web', status: 401, detail: { reason: 'unknown' } });
    t = Date.now() - 60_000;
    trail.record({ type: 'clinical-query', outcome: 'success', actor: 'viewer', credential: 'oidc', address: '127.0.0.1', method: 'GET', route: '/dicom-web', status: 200, level: 'studies', detail: { queryKeys: 'PatientID' } });
    trail.record({ type: 'quarantine', outcome: 'failure', actor: 'gateway', credential: 'system', detail: { item: 4, destination: 'research', reason: 'deidentification' } });
    trail.record({ type: 'discard', outcome: 'success', actor: 'privacy-officer', credential: 'api-token', address: '127.0.0.1', method: 'DELETE', route: '/api/quarantine', detail: { item: 4, destination: 'research' } });
    trail.close();
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const seqs = (stdout: string): number[] => stdout.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { seq: number }).seq);

  it('prints a table of the newest events, oldest first', () => {
    const r = anofair(['audit', '--data', data]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^SEQ\s+TIME\s+TYPE\s+OUTCOME\s+ACTOR\s+ADDRESS\s+REQUEST\s+DETAIL$/);
    assert.equal(lines.length, 6);
    assert.match(lines[5]!, /^5\s+\S+Z\s+discard\s+success\s+privacy-officer\s+127\.0\.0\.1\s+DELETE \/api\/quarantine\s+destination=research item=4$/);
    assert.match(lines[2]!, /auth-failure\s+failure\s+-\s+10\.0\.0\.9\s+GET \/dicom-web 401\s+reason=unknown/);
  });

  it('filters by time, type, actor and outcome, and prints JSON lines', async () => {
    assert.deepEqual(seqs(anofair(['audit', '--data', data, '--json', '--since', '24h']).stdout), [3, 4, 5]);
    const json = async (...args: string[]) => seqs(await inProcess(['audit', '--data', data, '--json', ...args]));
    assert.deepEqual(await json('--until', '1d'), [1, 2]);
    assert.deepEqual(await json('--type', 'quarantine', '--type', 'discard'), [4, 5]);
    assert.deepEqual(await json('--type', 'auth-failure,config-load'), [1, 2]);
    assert.deepEqual(await json('--actor', 'gateway'), [1, 4]);
    assert.deepEqual(await json('--outcome', 'failure'), [2, 4]);
    assert.deepEqual(await json('--limit', '2'), [4, 5]);
    assert.deepEqual(await json('--since', new Date(Date.now() - DAY).toISOString(), '--outcome', 'success'), [3, 5]);
    const [row] = (await inProcess(['audit', '--data', data, '--json', '--type', 'clinical-query'])).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(Object.keys(row).sort(), ['actor', 'address', 'credential', 'detail', 'hash', 'level', 'method', 'outcome', 'route', 'seq', 'status', 'time', 'type']);
  });

  it('finds the trail through --config, and says what is wrong with a bad argument', () => {
    const config = join(work, 'gateway.yaml');
    writeFileSync(config, 'upstream: { url: http://127.0.0.1:8042/dicom-web }\ndata: ./data\n');
    assert.deepEqual(seqs(anofair(['audit', '--config', config, '--json', '--limit', '1']).stdout), [5]);
    const typo = anofair(['audit', '--data', data, '--type', 'quarantined']);
    assert.notEqual(typo.status, 0);
    assert.match(typo.stderr, /unknown event type quarantined \(did you mean "quarantine"\?\)/);
    assert.match(anofair(['audit', '--data', data, '--since', 'yesterday']).stderr, /expected a time ago \(30m, 24h, 7d\) or an ISO date/);
    assert.match(anofair(['audit', '--data', data, '--config', config]).stderr, /cannot be used with/);
    const missing = anofair(['audit', '--data', join(work, 'nothing-here')]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^anofair: IO: cannot open the audit trail .*nothing-here\/audit\.sqlite: no such file\n$/);
  });

  it('reads a trail the gateway has open and is writing to', () => {
    const writer = new AuditTrail(join(data, AUDIT_FILE));
    try {
      writer.record({ type: 'key-use', outcome: 'success', actor: 'gateway', credential: 'system', detail: { keyId: 'sha256:00112233' } });
      assert.deepEqual(seqs(anofair(['audit', '--data', data, '--json', '--type', 'key-use']).stdout), [6]);
      const v = anofair(['audit', 'verify', '--data', data]);
      assert.equal(v.status, 0, v.stdout + v.stderr);
      assert.match(v.stdout, /: intact, 6 events \(seq 1 to 6\), append-only triggers in place\n$/);
    } finally {
      writer.close();
    }
  });

  it('audit verify exits 1 naming the first broken row of a trail edited outside the gateway', () => {
    const copy = join(work, 'tampered');
    const trail = new AuditTrail(join(copy, AUDIT_FILE));
    for (let i = 0; i < 4; i++) trail.record({ type: 'clinical-retrieve', outcome: 'success', actor: 'viewer', status: 200 });
    trail.close();
    const db = new Database(join(copy, AUDIT_FILE));
    db.exec('DROP TRIGGER events_no_update');
    db.prepare("UPDATE events SET actor = 'someone-else' WHERE seq = 3").run();
    db.close();
    const r = anofair(['audit', 'verify', '--data', copy]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /BROKEN at seq 3: the row is not what was recorded/);
    assert.match(r.stdout, /the append-only triggers are missing/);
  });

  it('reads "24h", "7d", ISO dates and date-times as times', () => {
    const now = Date.parse('2026-03-02T12:00:00Z');
    assert.equal(parseWhen('24h', now), Date.parse('2026-03-01T12:00:00Z'));
    assert.equal(parseWhen('7d', now), Date.parse('2026-02-23T12:00:00Z'));
    assert.equal(parseWhen('90s', now), now - 90_000);
    assert.equal(parseWhen('2026-03-01'), Date.parse('2026-03-01T00:00:00Z'));
    assert.equal(parseWhen('2026-03-01T08:30:00+01:00'), Date.parse('2026-03-01T07:30:00Z'));
    assert.throws(() => parseWhen('soon'));
    assert.throws(() => parseWhen('2026-13-45'));
  });
});
