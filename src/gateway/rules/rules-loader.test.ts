import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AnofairError } from '../../errors/anofair-error.js';
import { loadRules, loadRulesFile, type LocatedProblem } from './rules-loader.js';

const DESTINATIONS = ['research'];

/** The problems a rule text is rejected with (fails the test when it loads). */
function problems(text: string): LocatedProblem[] {
  try {
    loadRules(text, { source: 'rules.yaml', knownDestinations: DESTINATIONS });
  } catch (err) {
    assert.ok(err instanceof AnofairError, `expected an AnofairError, got ${String(err)}`);
    assert.equal(err.code, 'RULES_INVALID');
    return (err.details as { problems: LocatedProblem[] }).problems;
  }
  assert.fail('the rules loaded, but they should have been rejected');
}

function only(text: string): LocatedProblem {
  const found = problems(text);
  assert.equal(found.length, 1, `expected one problem, got: ${found.map((p) => p.message).join('; ')}`);
  return found[0]!;
}

const rule = (body: string, name = 'r1'): string => `version: 1\nrules:\n  - name: ${name}\n${body.replace(/^/gm, '    ')}\n`;

describe('routing rules: load-time checks', () => {
  it('rejects an unknown attribute keyword with its line, rule and a did-you-mean hint', () => {
    const p = only(rule('when:\n  attribute: BodyPartExamind\n  equals: CHEST\ndrop: true'));
    assert.match(p.message, /unknown attribute keyword "BodyPartExamind"/);
    assert.equal(p.hint, 'did you mean "BodyPartExamined"?');
    assert.deepEqual(p.location, { line: 5, column: 18 });
    assert.deepEqual(p.rule, { index: 0, name: 'r1' });
  });

  it('says how to name an attribute when the text is neither a keyword nor a tag', () => {
    const p = only(rule("when: { attribute: 'Body Part', exists: true }\ndrop: true"));
    assert.match(p.message, /neither a PS3.6 keyword nor a tag/);
    assert.match(p.hint ?? '', /\(0008,0060\)/);
  });

  it('rejects an unknown operator key, pointing at the key, with the intended name', () => {
    const p = only(rule('when:\n  attribute: Modality\n  in: [CR, DX]\ndrop: true'));
    assert.equal(p.message, 'unknown key "in"');
    assert.equal(p.hint, 'use oneOf');
    assert.deepEqual(p.location, { line: 6, column: 7 });
  });

  it('rejects unknown keys at every level: file, rule, forward, deidentify', () => {
    const found = problems(
      'version: 1\nrules:\n  - name: a\n    match: { attribute: Modality, equals: CR }\n    forward:\n      destination: [research]\n      deidentify: { profile: basic, option: [] }\nextra: 1\n',
    );
    const byKey = Object.fromEntries(found.map((p) => [p.key, p.hint]));
    assert.equal(byKey.match, 'use when');
    assert.equal(byKey.destination, 'did you mean "destinations"?');
    assert.equal(byKey.option, 'did you mean "options"?');
    assert.match(byKey.extra ?? '', /allowed here: version, rules/);
  });

  it('rejects unknown de-identification options and profiles, pixel methods other than none and cxr-anofair', () => {
    const found = problems(rule('forward:\n  destinations: [research]\n  deidentify: { profile: basic, options: [retain-uid] }\n  pixels: blur'));
    assert.equal(found.length, 2);
    assert.equal(found[0]!.hint, 'did you mean "retain-uids"?');
    assert.match(found[1]!.message, /pixels takes "none" .* or "cxr-anofair"/);
    const loaded = loadRules(rule('forward:\n  destinations: [research]\n  pixels: cxr-anofair'), { source: 'rules.yaml', knownDestinations: DESTINATIONS });
    assert.deepEqual(loaded.rules[0]!.action, { kind: 'forward', destinations: ['research'], deidentify: { profile: 'basic', options: [] }, pixels: 'cxr-anofair' });
    assert.match(only(rule('forward:\n  destinations: [research]\n  deidentify: { profile: strict }')).message, /only profile is "basic"/);
  });

  it('rejects a destination that is not configured', () => {
    const p = only(rule('forward: { destinations: [reserch] }'));
    assert.equal(p.message, 'unknown destination "reserch"');
    assert.equal(p.hint, 'did you mean "research"?');
  });

  it('rejects operators that do not fit the attribute VR', () => {
    assert.match(only(rule("when: { attribute: PatientAge, range: { min: 18 } }\ndrop: true")).hint ?? '', /regex or oneOf/);
    assert.match(only(rule('when: { attribute: Rows, dateRange: { from: 2020-01-01 } }\ndrop: true')).hint ?? '', /use range/);
    assert.match(only(rule('when: { attribute: StudyDate, range: { min: 1 } }\ndrop: true')).hint ?? '', /use dateRange/);
    assert.match(only(rule('when: { attribute: PixelData, equals: x }\ndrop: true')).message, /only exists applies/);
    assert.match(only(rule('when: { attribute: ViewCodeSequence, equals: x }\ndrop: true')).hint ?? '', /ViewCodeSequence.CodeValue/);
    assert.match(only(rule('when: { attribute: Modality.CodeValue, exists: true }\ndrop: true')).message, /not a sequence/);
  });

  it('rejects malformed operator values: regex, dates, CIDR blocks, ranges', () => {
    assert.match(only(rule("when: { attribute: StudyDescription, regex: '(chest' }\ndrop: true")).message, /does not compile/);
    assert.match(only(rule('when: { attribute: StudyDate, dateRange: { from: 2024-02-30 } }\ndrop: true')).message, /not a valid calendar date/);
    assert.match(only(rule('when: { address: [10.0.0.0/33] }\ndrop: true')).message, /prefix length/);
    assert.match(only(rule('when: { address: host.example }\ndrop: true')).message, /not an IPv4 or IPv6 address/);
    assert.match(only(rule('when: { attribute: Rows, range: { min: 5, max: 1 } }\ndrop: true')).message, /min is greater than max/);
  });

  it('rejects conditions with no operator, two operators, or mixed kinds', () => {
    assert.match(only(rule('when: { attribute: Modality }\ndrop: true')).message, /has no operator/);
    assert.match(only(rule('when: { attribute: Modality, equals: CR, regex: C }\ndrop: true')).message, /exactly one operator/);
    assert.match(only(rule('when: { attribute: Modality, equals: CR, client: a }\ndrop: true')).hint ?? '', /all: or any:/);
    assert.match(only(rule('when: { equals: CR }\ndrop: true')).message, /needs an attribute/);
  });

  it('requires exactly one action', () => {
    assert.match(only(rule('when: { attribute: Modality, equals: CR }')).message, /needs an action/);
    assert.match(only(rule('forward: { destinations: [research] }\ndrop: true')).message, /not both/);
  });

  it('rejects duplicate names and rules after a catch-all that can never match', () => {
    const dup = problems('version: 1\nrules:\n  - name: a\n    when: { attribute: Modality, equals: CR }\n    drop: true\n  - name: a\n    drop: true\n');
    assert.match(dup[0]!.message, /already used by rule 1/);
    assert.equal(dup[0]!.location?.line, 6);
    const shadowed = only('version: 1\nrules:\n  - name: all\n    drop: true\n  - name: never\n    forward: { destinations: [research] }\n');
    assert.match(shadowed.message, /can never match/);
    assert.deepEqual(shadowed.rule, { index: 1, name: 'never' });
  });

  it('reports YAML syntax errors with their line, and an empty file', () => {
    const p = only('version: 1\nrules:\n  - name: a\n   drop: true\n');
    assert.match(p.message, /^YAML syntax/);
    assert.equal(p.location?.line, 4);
    assert.match(only('').message, /empty/);
  });

  it('reports every problem at once, and the message lists each with file:line:column', () => {
    try {
      loadRules(rule('when:\n  - { attribute: Modalty, equals: CR }\n  - { attribute: StudyDate, dateRange: { from: 2024-13-01 } }\nforward: { destinations: [archive] }'), {
        source: 'site-rules.yaml',
        knownDestinations: DESTINATIONS,
      });
      assert.fail('loaded');
    } catch (err) {
      assert.ok(err instanceof AnofairError);
      const lines = err.message.split('\n');
      assert.equal(lines[0], 'site-rules.yaml: 3 problems in the routing rules:');
      assert.match(lines[1]!, /^ {2}site-rules\.yaml:5:\d+ \(rule 1 "r1"\) rules\[0\]\.when\[0\]\.attribute: unknown attribute keyword "Modalty" \(hint: did you mean "Modality"\?\)$/);
      assert.match(lines[3]!, /unknown destination "archive" \(hint: did you mean "research"\?\)|configured destinations: research/);
    }
  });

  it('accepts a valid file and freezes the result, with a hash of the text', () => {
    const text = rule('when: { attribute: Modality, equals: CR }\nforward: { destinations: [research] }');
    const rules = loadRules(text, { knownDestinations: DESTINATIONS });
    assert.equal(rules.rules.length, 1);
    assert.ok(Object.isFrozen(rules) && Object.isFrozen(rules.rules) && Object.isFrozen(rules.rules[0]));
    assert.match(rules.hash, /^[0-9a-f]{64}$/);
    assert.notEqual(loadRules(text + '# changed\n').hash, rules.hash);
    assert.equal(rules.rules[0]!.line, 3);
  });

  it('loads from a file, and a missing file is a clear error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'anofair-rules-'));
    try {
      const path = join(dir, 'rules.yaml');
      await writeFile(path, rule('drop: true'));
      assert.equal((await loadRulesFile(path)).source, path);
      await assert.rejects(loadRulesFile(join(dir, 'missing.yaml')), /cannot read the routing rules file .*ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
