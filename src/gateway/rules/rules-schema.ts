import { z } from 'zod';
import { PROFILE_OPTIONS } from '../../anonymizer/deid-types.js';
import { PIXEL_METHODS } from './rule-types.js';

/**
 * The YAML shape of a routing rule file, checked strictly: an unknown key anywhere fails the load (with a
 * hint, see rules-loader.ts). Semantic checks (attributes exist, regexes compile, operators fit the VR,
 * destinations are configured) happen when the rules are compiled.
 */

const scalar = z.union([z.string(), z.number()], { error: 'expected a text or a number' });
const stringList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
  error: 'expected a name or a list of names',
});
const dateBound = z.union([z.string(), z.number()], { error: 'expected a date such as 2024-01-31 or 20240131' });

export const ATTRIBUTE_OPERATORS = ['equals', 'oneOf', 'regex', 'range', 'dateRange', 'exists'] as const;
export const SENDER_KEYS = ['client', 'authenticated', 'address'] as const;
export const COMBINATOR_KEYS = ['all', 'any', 'not'] as const;

export interface RawCondition {
  attribute?: string;
  equals?: string | number;
  oneOf?: Array<string | number>;
  regex?: string;
  ignoreCase?: boolean;
  range?: { min?: number; max?: number };
  dateRange?: { from?: string | number; to?: string | number };
  exists?: boolean;
  client?: string | string[];
  authenticated?: boolean;
  address?: string | string[];
  all?: RawCondition[];
  any?: RawCondition[];
  not?: RawCondition;
}

export const conditionSchema: z.ZodType<RawCondition> = z.strictObject({
  attribute: z.string().optional(),
  equals: scalar.optional(),
  oneOf: z.array(scalar).min(1, 'oneOf needs at least one value').optional(),
  regex: z.string().min(1).optional(),
  ignoreCase: z.boolean().optional(),
  range: z
    .strictObject({ min: z.number().optional(), max: z.number().optional() })
    .refine((r) => r.min !== undefined || r.max !== undefined, 'a range needs min, max or both')
    .refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, 'min is greater than max')
    .optional(),
  dateRange: z
    .strictObject({ from: dateBound.optional(), to: dateBound.optional() })
    .refine((r) => r.from !== undefined || r.to !== undefined, 'a dateRange needs from, to or both')
    .optional(),
  exists: z.boolean().optional(),
  client: stringList.optional(),
  authenticated: z.boolean().optional(),
  address: stringList.optional(),
  get all() {
    return z.array(conditionSchema).min(1).optional();
  },
  get any() {
    return z.array(conditionSchema).min(1).optional();
  },
  get not() {
    return conditionSchema.optional();
  },
});

/** `when` is one condition, or a list meaning all of them. */
export const whenSchema = z.union([conditionSchema, z.array(conditionSchema).min(1)], {
  error: 'expected a condition (a mapping) or a list of conditions',
});

export const deidentifySchema = z.strictObject({
  profile: z.literal('basic', {
    error: 'the only profile is "basic" (PS3.15 Basic Application Level Confidentiality Profile); retain/clean options go under options',
  }),
  options: z.array(z.enum(PROFILE_OPTIONS)).default([]),
});

export const forwardSchema = z.strictObject({
  destinations: z.array(z.string().min(1)).min(1, 'forward needs at least one destination'),
  deidentify: deidentifySchema.default({ profile: 'basic', options: [] }),
  pixels: z
    .enum(PIXEL_METHODS, {
      error: 'pixels takes "none" (pixels unchanged; burned-in text is quarantined) or "cxr-anofair" (chest radiographs regenerated, disease regions kept)',
    })
    .default('none'),
});

export const ruleSchema = z
  .strictObject({
    name: z.string().min(1).max(100),
    description: z.string().optional(),
    when: whenSchema.optional(),
    forward: forwardSchema.optional(),
    drop: z.literal(true, { error: 'drop takes the value true (leave it out otherwise)' }).optional(),
    continue: z.boolean().default(false),
  })
  .superRefine((rule, ctx) => {
    if (rule.forward === undefined && rule.drop === undefined) {
      ctx.addIssue({ code: 'custom', message: 'a rule needs an action: forward (with destinations) or drop: true' });
    }
    if (rule.forward !== undefined && rule.drop !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'a rule either forwards or drops, not both' });
    }
    if (rule.drop && rule.continue) {
      ctx.addIssue({ code: 'custom', path: ['continue'], message: 'a drop rule ends evaluation; continue: true makes no sense there' });
    }
  });

export const ruleFileSchema = z.strictObject({
  version: z.literal(1, { error: 'version must be 1' }),
  rules: z.array(ruleSchema).min(1, 'a rule file needs at least one rule'),
});

export type RawRule = z.infer<typeof ruleSchema>;
export type RawRuleFile = z.infer<typeof ruleFileSchema>;

/** Keys allowed in each kind of mapping, for "did you mean" hints on unknown keys. */
export const KNOWN_KEYS = {
  file: ['version', 'rules'],
  rule: ['name', 'description', 'when', 'forward', 'drop', 'continue'],
  condition: ['attribute', ...ATTRIBUTE_OPERATORS, 'ignoreCase', ...SENDER_KEYS, ...COMBINATOR_KEYS],
  forward: ['destinations', 'deidentify', 'pixels'],
  deidentify: ['profile', 'options'],
  range: ['min', 'max'],
  dateRange: ['from', 'to'],
} as const;

/** Keys people write by habit, with what this schema calls them. */
export const RENAMED_KEYS: Record<string, string> = {
  match: 'when',
  if: 'when',
  condition: 'when',
  conditions: 'when',
  destination: 'destinations',
  to: 'forward',
  action: 'forward or drop',
  actions: 'forward or drop',
  tag: 'attribute',
  keyword: 'attribute',
  in: 'oneOf',
  anyOf: 'oneOf',
  equal: 'equals',
  is: 'equals',
  matches: 'regex',
  pattern: 'regex',
  between: 'range',
  present: 'exists',
  and: 'all',
  or: 'any',
  profileOptions: 'options',
  pixel: 'pixels',
  stop: 'continue (false)',
};
