import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readPart10 } from '../../dicom/part10.js';
import { syntheticInstance } from '../../../test/support/synthetic-instance.js';
import type { MatchInput } from './condition-evaluator.js';
import { route } from './rule-engine.js';
import type { Sender } from './rule-types.js';
import { loadRules } from './rules-loader.js';

const DESTINATIONS = ['research', 'trial'];

function instance(overrides: Record<string, unknown> = {}, sender: Sender = {}): MatchInput {
  return { file: readPart10(syntheticInstance({ overrides })), sender };
}

/** A rule set with one forwarding rule on `when` (YAML), then a catch-all drop. */
function oneRule(when: string): ReturnType<typeof loadRules> {
  return loadRules(
    `version: 1\nrules:\n  - name: under-test\n    when:\n${when.replace(/^/gm, '      ')}\n    forward: { destinations: [research] }\n  - name: rest\n    drop: true\n`,
    { knownDestinations: DESTINATIONS },
  );
}

function matches(when: string, input: MatchInput): boolean {
  return route(oneRule(when), input).decidedBy?.name === 'under-test';
}

describe('routing rules: attribute operators', () => {
  it('equals compares the whole value, exactly unless ignoreCase', () => {
    assert.equal(matches('attribute: Modality\nequals: DX', instance()), true);
    assert.equal(matches('attribute: Modality\nequals: dx', instance()), false);
    assert.equal(matches('attribute: Modality\nequals: dx\nignoreCase: true', instance()), true);
    assert.equal(matches('attribute: StudyDescription\nequals: CHEST', instance()), false, 'no substring match');
  });

  it('equals with a number compares numerically (IS "0010" equals 10)', () => {
    assert.equal(matches('attribute: InstanceNumber\nequals: 10', instance({ InstanceNumber: '0010' })), true);
    assert.equal(matches('attribute: Rows\nequals: 8', instance()), true);
    assert.equal(matches('attribute: Rows\nequals: 9', instance()), false);
  });

  it('oneOf matches any listed value, and any value of a multi-valued attribute', () => {
    assert.equal(matches('attribute: Modality\noneOf: [CR, DX]', instance()), true);
    assert.equal(matches('attribute: Modality\noneOf: [CR, DX]', instance({ Modality: 'CT' })), false);
    assert.equal(matches('attribute: ImageType\noneOf: [PRIMARY]', instance()), true, 'second value of ImageType');
    assert.equal(matches('attribute: ImageType\noneOf: [DERIVED]', instance()), false);
  });

  it('regex finds a match anywhere in the value', () => {
    assert.equal(matches("attribute: StudyDescription\nregex: '\\bchest\\b'\nignoreCase: true", instance()), true);
    assert.equal(matches("attribute: StudyDescription\nregex: '\\bchest\\b'", instance()), false, 'case-sensitive by default');
    assert.equal(matches("attribute: StudyDescription\nregex: '^CHEST'", instance()), false);
  });

  it('range compares numbers inclusively, with either bound optional', () => {
    assert.equal(matches('attribute: Rows\nrange: { min: 8, max: 8 }', instance()), true);
    assert.equal(matches('attribute: Rows\nrange: { min: 9 }', instance()), false);
    assert.equal(matches('attribute: Rows\nrange: { max: 7.5 }', instance()), false);
    assert.equal(matches('attribute: SeriesNumber\nrange: { min: 0, max: 3 }', instance({ SeriesNumber: '2' })), true);
  });

  it('dateRange compares DA dates inclusively, written either way', () => {
    assert.equal(matches('attribute: StudyDate\ndateRange: { from: 2024-01-31 }', instance()), true);
    assert.equal(matches('attribute: StudyDate\ndateRange: { from: 20240201 }', instance()), false);
    assert.equal(matches('attribute: StudyDate\ndateRange: { from: 2023-01-01, to: 2024-01-30 }', instance()), false);
    assert.equal(matches('attribute: StudyDate\ndateRange: { to: 2024-12-31 }', instance()), true);
  });

  it('exists means present with a value; empty (type 2) or absent does not exist', () => {
    assert.equal(matches('attribute: BodyPartExamined\nexists: true', instance()), true);
    assert.equal(matches('attribute: BodyPartExamined\nexists: true', instance({ BodyPartExamined: '' })), false);
    assert.equal(matches('attribute: BodyPartExamined\nexists: true', instance({ BodyPartExamined: null })), false);
    assert.equal(matches('attribute: BodyPartExamined\nexists: false', instance({ BodyPartExamined: null })), true);
  });

  it('names attributes by tag as well as by keyword', () => {
    assert.equal(matches("attribute: '(0018,0015)'\nequals: CHEST", instance()), true);
    assert.equal(matches("attribute: '00180015'\nequals: CHEST", instance()), true);
  });

  it('reaches into sequences: holds when it holds in any item', () => {
    const withView = instance({
      ViewCodeSequence: [{ CodeValue: 'R-10214', CodingSchemeDesignator: 'SRT', CodeMeaning: 'postero-anterior' }],
    });
    assert.equal(matches('attribute: ViewCodeSequence.CodeValue\nequals: R-10214', withView), true);
    assert.equal(matches('attribute: ViewCodeSequence.CodeValue\nequals: R-10206', withView), false);
    assert.equal(matches('attribute: ViewCodeSequence\nexists: true', withView), true);
    assert.equal(matches('attribute: ViewCodeSequence\nexists: true', instance()), false);
  });

  it('matches person names by their alphabetic group', () => {
    assert.equal(matches("attribute: ReferringPhysicianName\nregex: '^Doctor\\^'", instance()), true);
  });

  it('combines conditions with all, any, not, and a list meaning all', () => {
    const both = 'all:\n  - { attribute: Modality, equals: DX }\n  - { attribute: ViewPosition, equals: PA }';
    assert.equal(matches(both, instance()), true);
    assert.equal(matches(both, instance({ ViewPosition: 'AP' })), false);
    const either = 'any:\n  - { attribute: Modality, equals: CT }\n  - { attribute: ViewPosition, equals: PA }';
    assert.equal(matches(either, instance()), true);
    assert.equal(matches('not: { attribute: Modality, equals: DX }', instance()), false);
    const list = loadRules(
      'version: 1\nrules:\n  - name: listed\n    when:\n      - { attribute: Modality, equals: DX }\n      - { attribute: PatientSex, equals: M }\n    forward: { destinations: [research] }\n',
    );
    assert.equal(route(list, instance()).matched.length, 0, 'a list means all of them');
    assert.equal(route(list, instance({ PatientSex: 'M' })).matched.length, 1);
  });
});

describe('routing rules: sender conditions', () => {
  it('client matches the authenticated client name', () => {
    assert.equal(matches('client: [ct-export, pacs-bridge]', instance({}, { client: 'pacs-bridge' })), true);
    assert.equal(matches('client: ct-export', instance({}, { client: 'pacs-bridge' })), false);
    assert.equal(matches('client: ct-export', instance({}, {})), false);
  });

  it('authenticated tells authenticated senders from anonymous ones', () => {
    assert.equal(matches('authenticated: true', instance({}, { client: 'x' })), true);
    assert.equal(matches('authenticated: true', instance({}, { address: '10.0.0.1' })), false);
    assert.equal(matches('authenticated: false', instance({}, {})), true);
  });

  it('address matches addresses and CIDR blocks, IPv4-mapped IPv6 included', () => {
    const cond = "address: [10.20.0.0/16, 192.168.7.12, 'fd00::/8']";
    assert.equal(matches(cond, instance({}, { address: '10.20.3.4' })), true);
    assert.equal(matches(cond, instance({}, { address: '::ffff:10.20.3.4' })), true, 'dual-stack socket form');
    assert.equal(matches(cond, instance({}, { address: '10.21.0.1' })), false);
    assert.equal(matches(cond, instance({}, { address: '192.168.7.12' })), true);
    assert.equal(matches(cond, instance({}, { address: '192.168.7.13' })), false);
    assert.equal(matches(cond, instance({}, { address: 'fd12::1' })), true);
    assert.equal(matches(cond, instance({}, {})), false, 'no address, no match');
  });
});

describe('routing rules: evaluation order', () => {
  const rules = loadRules(
    `version: 1
rules:
  - name: audit-copy
    when: { attribute: Modality, oneOf: [CR, DX] }
    forward: { destinations: [trial] }
    continue: true
  - name: chest
    when: { attribute: BodyPartExamined, equals: CHEST }
    forward: { destinations: [research], deidentify: { profile: basic, options: [retain-patient-characteristics] } }
  - name: chest-again
    when: { attribute: BodyPartExamined, equals: CHEST }
    forward: { destinations: [research] }
  - name: rest
    drop: true
`,
    { knownDestinations: DESTINATIONS },
  );

  it('first match wins: a later rule that also matches is not applied', () => {
    const decision = route(rules, instance());
    assert.equal(decision.decidedBy?.name, 'chest');
    assert.deepEqual(decision.matched.map((r) => r.name), ['audit-copy', 'chest']);
  });

  it('continue: true keeps the rule and goes on to the next ones', () => {
    const decision = route(rules, instance());
    assert.deepEqual(decision.forwards.map((f) => [f.rule.name, f.action.destinations]), [
      ['audit-copy', ['trial']],
      ['chest', ['research']],
    ]);
    assert.deepEqual(decision.forwards[1]!.action.deidentify.options, ['retain-patient-characteristics']);
  });

  it('a drop rule ends evaluation; earlier continuing rules still forward', () => {
    const decision = route(rules, instance({ BodyPartExamined: 'HAND' }));
    assert.equal(decision.dropped, true);
    assert.equal(decision.decidedBy?.name, 'rest');
    assert.deepEqual(decision.forwards.map((f) => f.rule.name), ['audit-copy']);
    const ct = route(rules, instance({ Modality: 'CT', BodyPartExamined: 'HAND' }));
    assert.deepEqual(ct.forwards, []);
    assert.equal(ct.dropped, true);
  });

  it('an instance no rule matches goes nowhere', () => {
    const only = loadRules('version: 1\nrules:\n  - name: ct\n    when: { attribute: Modality, equals: CT }\n    forward: { destinations: [research] }\n');
    const decision = route(only, instance());
    assert.equal(decision.decidedBy, null);
    assert.deepEqual(decision.forwards, []);
    assert.equal(decision.dropped, false);
  });
});
