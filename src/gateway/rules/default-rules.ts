import type { RuleSet } from './rule-types.js';
import { loadRules } from './rules-loader.js';

/**
 * The shipped routing rules, embedded so that `anofair serve` runs without a rules file. Identical to
 * config/rules.default.yaml (a test keeps them equal).
 */
export const DEFAULT_RULES_YAML = String.raw`# AnoFAIR Gateway: the shipped routing rules (also embedded in the gateway; used when no --rules is given).
#
# Chest radiographs (CR or DX with a chest body part, or a chest-like study description) are de-identified
# with the PS3.15 Basic Application Level Confidentiality Profile and forwarded to the destination
# "research". Everything else is dropped: nothing leaves for research unless a rule selects it.
# Every key of the rule language is shown, with comments, in rules.example.yaml.
version: 1
rules:
  - name: chest-radiographs
    description: CR/DX chest radiographs to the research archive, Basic Profile, pixels unchanged
    when:
      all:
        - attribute: Modality
          oneOf: [CR, DX]
        - any:
            - attribute: BodyPartExamined
              oneOf: [CHEST, THORAX, LUNG]
              ignoreCase: true
            - attribute: StudyDescription
              regex: '\b(chest|thorax|thoracic|thorac\w*|torax|lungs?|cxr|poumons?|pulmo\w*)\b'
              ignoreCase: true
    forward:
      destinations: [research]
      deidentify:
        profile: basic
        options: []
      pixels: none

  - name: drop-everything-else
    description: nothing else is copied to research
    drop: true
`;

export function loadDefaultRules(knownDestinations?: readonly string[]): RuleSet {
  return loadRules(DEFAULT_RULES_YAML, { source: 'embedded default rules (config/rules.default.yaml)', knownDestinations });
}
