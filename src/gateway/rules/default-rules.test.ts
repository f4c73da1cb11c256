import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { readPart10 } from '../../dicom/part10.js';
import { syntheticInstance } from '../../../test/support/synthetic-instance.js';
import { DEFAULT_RULES_YAML, loadDefaultRules } from './default-rules.js';
import { route } from './rule-engine.js';
import { loadRulesFile } from './rules-loader.js';

const ROOT = new URL('../../../../', import.meta.url);

function decide(overrides: Record<string, unknown>): { rule: string | undefined; destinations: string[] } {
  const decision = route(loadDefaultRules(['research']), { file: readPart10(syntheticInstance({ overrides })), sender: {} });
  return { rule: decision.decidedBy?.name, destinations: decision.forwards.flatMap((f) => f.action.destinations) };
}

describe('the shipped default rules', () => {
  it('are embedded verbatim from config/rules.default.yaml', async () => {
    assert.equal(DEFAULT_RULES_YAML, await readFile(new URL('config/rules.default.yaml', ROOT), 'utf8'));
  });

  it('forward CR and DX chest radiographs to research with the Basic Profile and no options', () => {
    assert.deepEqual(decide({ Modality: 'DX', BodyPartExamined: 'CHEST' }), { rule: 'chest-radiographs', destinations: ['research'] });
    assert.deepEqual(decide({ Modality: 'CR', BodyPartExamined: 'thorax' }), { rule: 'chest-radiographs', destinations: ['research'] });
    const rule = loadDefaultRules(['research']).rules[0]!;
    assert.equal(rule.action.kind, 'forward');
    if (rule.action.kind === 'forward') assert.deepEqual(rule.action.deidentify, { profile: 'basic', options: [] });
  });

  it('recognise a chest-like study description when the body part is missing or different', () => {
    for (const description of ['XR CHEST 2 VIEWS', 'Thorax p.a.', 'RX TORAX', 'CXR portable', 'Lungs PA']) {
      assert.equal(decide({ Modality: 'CR', BodyPartExamined: null, StudyDescription: description }).rule, 'chest-radiographs', description);
    }
  });

  it('drop other body parts, other modalities and descriptions that only contain a chest-like word', () => {
    assert.deepEqual(decide({ Modality: 'DX', BodyPartExamined: 'HAND', StudyDescription: 'XR HAND' }), { rule: 'drop-everything-else', destinations: [] });
    assert.deepEqual(decide({ Modality: 'CT', BodyPartExamined: 'CHEST' }), { rule: 'drop-everything-else', destinations: [] });
    assert.equal(decide({ Modality: 'DX', BodyPartExamined: null, StudyDescription: 'XR CHESTER KNEE' }).rule, 'drop-everything-else');
  });

  it('fail to load when no destination named research is configured', () => {
    assert.throws(() => loadDefaultRules(['archive']), /unknown destination "research"/);
  });

  it('config/rules.example.yaml, which shows every key, loads', async () => {
    const rules = await loadRulesFile(new URL('config/rules.example.yaml', ROOT).pathname, { knownDestinations: ['research'] });
    assert.equal(rules.rules.length, 2);
  });
});
