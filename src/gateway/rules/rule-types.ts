import type { BlockList } from 'node:net';
import type { ProfileOption } from '../../anonymizer/deid-types.js';
import type { AttributePath } from './attribute-path.js';

/** The compiled, validated form of a routing rule set. Built only by loadRules(); frozen. */

export type AttributeTest =
  | { op: 'equals'; value: string | number; ignoreCase: boolean }
  | { op: 'oneOf'; values: readonly (string | number)[]; ignoreCase: boolean }
  | { op: 'regex'; pattern: RegExp }
  | { op: 'range'; min?: number; max?: number }
  /** Inclusive bounds as YYYYMMDD, compared with the first 8 characters of DA/DT values. */
  | { op: 'dateRange'; from?: string; to?: string }
  | { op: 'exists'; value: boolean };

export type Condition =
  | { kind: 'attribute'; path: AttributePath; test: AttributeTest }
  | { kind: 'client'; names: ReadonlySet<string> }
  | { kind: 'authenticated'; value: boolean }
  | { kind: 'address'; list: BlockList; text: readonly string[] }
  | { kind: 'all'; of: readonly Condition[] }
  | { kind: 'any'; of: readonly Condition[] }
  | { kind: 'not'; of: Condition };

/** PS3.15 Annex E: the Basic Application Level Confidentiality Profile plus the options a rule asks for. */
export interface DeidentificationAction {
  profile: 'basic';
  options: readonly ProfileOption[];
}

export const PIXEL_METHODS = ['none', 'cxr-anofair'] as const;
export type PixelMethod = (typeof PIXEL_METHODS)[number];

export interface ForwardAction {
  kind: 'forward';
  destinations: readonly string[];
  deidentify: DeidentificationAction;
  /** Pixel anonymization: 'none' (pixels unchanged; burned-in text is quarantined) or CXR-AnoFAIR on chest radiographs. */
  pixels: PixelMethod;
}

export type RuleAction = ForwardAction | { kind: 'drop' };

export interface Rule {
  /** Position in the file, from 0. */
  index: number;
  name: string;
  description?: string;
  /** null: the rule matches every instance. */
  when: Condition | null;
  action: RuleAction;
  /** When true, evaluation goes on to the next rules after this one matched. */
  continue: boolean;
  /** 1-based line of the rule in its file, for messages. */
  line?: number;
}

export interface RuleSet {
  rules: readonly Rule[];
  /** Where the rules came from (a file path or "embedded default"). */
  source: string;
  /** SHA-256 of the rule text, copied into each de-identification record (configHash). */
  hash: string;
}

/** Who sent an instance: the authenticated client name (if any) and the peer address. */
export interface Sender {
  client?: string;
  address?: string;
}
