import { BlockList, isIP } from 'node:net';
import { AttributePathError, resolveAttributePath, type AttributePath } from './attribute-path.js';
import { didYouMean } from '../config/did-you-mean.js';
import type { AttributeTest, Condition, Rule, RuleAction } from './rule-types.js';
import { ATTRIBUTE_OPERATORS, COMBINATOR_KEYS, SENDER_KEYS, type RawCondition, type RawRule } from './rules-schema.js';

/** A problem found in a rule file: where (a path into the YAML), what, and how to fix it. */
export interface RuleProblem {
  path: Array<string | number>;
  /** When the problem is a key (e.g. an unknown one), the key, so the location points at it. */
  key?: string;
  message: string;
  hint?: string;
}

export interface CompileContext {
  /** Names of the configured destinations; when given, a rule naming another one fails the load. */
  knownDestinations?: readonly string[];
  problems: RuleProblem[];
}

/** Normalise a date bound (2024-01-31, 20240131) to YYYYMMDD, or undefined when it is not a date. */
export function normaliseDate(value: string | number): string | undefined {
  const text = String(value).trim().replace(/-/g, '');
  if (!/^\d{8}$/.test(text)) return undefined;
  const y = Number(text.slice(0, 4));
  const m = Number(text.slice(4, 6));
  const d = Number(text.slice(6, 8));
  const date = new Date(Date.UTC(y, m - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return undefined;
  return text;
}

function addAddress(list: BlockList, text: string): string | undefined {
  const [address, prefixText, extra] = text.trim().split('/');
  if (extra !== undefined || !address) return 'not an address or CIDR block';
  const family = isIP(address);
  if (family === 0) return 'not an IPv4 or IPv6 address';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (prefixText === undefined) {
    list.addAddress(address, type);
    return undefined;
  }
  const prefix = Number(prefixText);
  const max = family === 4 ? 32 : 128;
  if (!/^\d+$/.test(prefixText) || prefix > max) return `the prefix length must be 0..${max}`;
  list.addSubnet(address, prefix, type);
  return undefined;
}

const asList = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);

function compileAttributeTest(raw: RawCondition, attr: AttributePath, path: Array<string | number>, ctx: CompileContext): AttributeTest | undefined {
  const ops = ATTRIBUTE_OPERATORS.filter((op) => raw[op] !== undefined);
  if (ops.length === 0) {
    ctx.problems.push({
      path,
      message: `the condition on ${attr.text} has no operator`,
      hint: `add one of: ${ATTRIBUTE_OPERATORS.join(', ')}`,
    });
    return undefined;
  }
  if (ops.length > 1) {
    ctx.problems.push({
      path,
      message: `a condition takes exactly one operator; this one has ${ops.join(' and ')}`,
      hint: 'split it into several conditions under all:',
    });
    return undefined;
  }
  const op = ops[0]!;
  const kind = attr.kind;
  const problem = (message: string, hint?: string): undefined => {
    ctx.problems.push({ path: [...path, op], message, hint });
    return undefined;
  };
  if (raw.ignoreCase !== undefined && op !== 'equals' && op !== 'oneOf' && op !== 'regex') {
    ctx.problems.push({ path: [...path, 'ignoreCase'], message: `ignoreCase does not apply to ${op}`, hint: 'remove it' });
  }
  if ((kind === 'binary' || kind === 'sequence') && op !== 'exists') {
    return problem(
      `${attr.text} holds ${kind === 'binary' ? 'binary data' : 'a sequence'}; only exists applies to it`,
      kind === 'sequence' ? 'test an attribute inside it, e.g. "' + attr.text + '.CodeValue"' : undefined,
    );
  }
  const ignoreCase = raw.ignoreCase ?? false;
  switch (op) {
    case 'equals':
      return { op, value: raw.equals!, ignoreCase };
    case 'oneOf':
      return { op, values: raw.oneOf!, ignoreCase };
    case 'regex':
      try {
        return { op, pattern: new RegExp(raw.regex!, ignoreCase ? 'i' : '') };
      } catch (err) {
        return problem(`the regular expression does not compile: ${(err as Error).message}`, 'write a JavaScript regular expression; use ignoreCase: true instead of (?i)');
      }
    case 'range':
      if (kind !== 'number' && kind !== 'unknown') {
        return problem(`range compares numbers, but ${attr.text} holds ${kind === 'date' ? 'dates' : 'text'}`, kind === 'date' ? 'use dateRange' : 'use regex or oneOf');
      }
      return { op, min: raw.range!.min, max: raw.range!.max };
    case 'dateRange': {
      if (kind !== 'date' && kind !== 'unknown') {
        return problem(`dateRange compares dates, but ${attr.text} is not a DA or DT attribute`, kind === 'number' ? 'use range' : undefined);
      }
      const from = raw.dateRange!.from === undefined ? undefined : normaliseDate(raw.dateRange!.from);
      const to = raw.dateRange!.to === undefined ? undefined : normaliseDate(raw.dateRange!.to);
      if ((raw.dateRange!.from !== undefined && !from) || (raw.dateRange!.to !== undefined && !to)) {
        return problem('a dateRange bound is not a valid calendar date', 'write 2024-01-31 or 20240131');
      }
      if (from && to && from > to) return problem('from is after to');
      return { op, from, to };
    }
    case 'exists':
      return { op, value: raw.exists! };
  }
}

export function compileCondition(raw: RawCondition, path: Array<string | number>, ctx: CompileContext): Condition | undefined {
  const present = (Object.keys(raw) as Array<keyof RawCondition>).filter((k) => raw[k] !== undefined);
  const groups = {
    attribute: present.filter((k) => k === 'attribute' || (ATTRIBUTE_OPERATORS as readonly string[]).includes(k) || k === 'ignoreCase'),
    sender: present.filter((k) => (SENDER_KEYS as readonly string[]).includes(k)),
    combinator: present.filter((k) => (COMBINATOR_KEYS as readonly string[]).includes(k)),
  };
  const used = Object.entries(groups).filter(([, keys]) => keys.length > 0);
  if (used.length === 0) {
    ctx.problems.push({ path, message: 'an empty condition', hint: 'write attribute: with an operator, a sender test (client, authenticated, address), or all/any/not' });
    return undefined;
  }
  if (used.length > 1 || groups.sender.length > 1 || groups.combinator.length > 1) {
    ctx.problems.push({
      path,
      message: `one condition mixes ${present.join(', ')}`,
      hint: 'write each test as its own condition and combine them with all: or any:',
    });
    return undefined;
  }
  if (groups.combinator.length === 1) {
    if (raw.not !== undefined) {
      const inner = compileCondition(raw.not, [...path, 'not'], ctx);
      return inner && { kind: 'not', of: inner };
    }
    const kind = raw.all !== undefined ? 'all' : 'any';
    const list = (raw.all ?? raw.any)!;
    const of = list.map((c, i) => compileCondition(c, [...path, kind, i], ctx));
    return of.every((c) => c !== undefined) ? { kind, of: of as Condition[] } : undefined;
  }
  if (groups.sender.length === 1) {
    if (raw.authenticated !== undefined) return { kind: 'authenticated', value: raw.authenticated };
    if (raw.client !== undefined) return { kind: 'client', names: new Set(asList(raw.client)) };
    const list = new BlockList();
    const text = asList(raw.address!);
    let ok = true;
    text.forEach((entry, i) => {
      const why = addAddress(list, entry);
      if (why) {
        ok = false;
        ctx.problems.push({ path: [...path, 'address', ...(Array.isArray(raw.address) ? [i] : [])], message: `"${entry}": ${why}`, hint: 'write 10.1.2.3, 10.1.0.0/16 or fd00::/8' });
      }
    });
    return ok ? { kind: 'address', list, text } : undefined;
  }
  if (raw.attribute === undefined) {
    ctx.problems.push({ path, message: `${groups.attribute.join(', ')} needs an attribute`, hint: 'add attribute: <keyword or tag>' });
    return undefined;
  }
  let attr: AttributePath;
  try {
    attr = resolveAttributePath(raw.attribute);
  } catch (err) {
    if (!(err instanceof AttributePathError)) throw err;
    ctx.problems.push({ path: [...path, 'attribute'], message: err.message, hint: err.hint });
    return undefined;
  }
  const test = compileAttributeTest(raw, attr, path, ctx);
  return test && { kind: 'attribute', path: attr, test };
}

export function compileRule(raw: RawRule, index: number, ctx: CompileContext, line?: number): Rule | undefined {
  const path: Array<string | number> = ['rules', index];
  const errorsBefore = ctx.problems.length;
  let when: Condition | null = null;
  if (raw.when !== undefined) {
    if (Array.isArray(raw.when)) {
      const of = raw.when.map((c, i) => compileCondition(c, [...path, 'when', i], ctx));
      if (of.every((c) => c !== undefined)) when = { kind: 'all', of: of as Condition[] };
    } else {
      when = compileCondition(raw.when, [...path, 'when'], ctx) ?? null;
    }
  }
  let action: RuleAction;
  if (raw.forward) {
    const known = ctx.knownDestinations;
    raw.forward.destinations.forEach((name, i) => {
      if (known && !known.includes(name)) {
        ctx.problems.push({
          path: [...path, 'forward', 'destinations', i],
          message: `unknown destination "${name}"`,
          hint: didYouMean(name, known) ?? (known.length ? `configured destinations: ${known.join(', ')}` : 'no destination is configured'),
        });
      }
    });
    if (new Set(raw.forward.destinations).size !== raw.forward.destinations.length) {
      ctx.problems.push({ path: [...path, 'forward', 'destinations'], message: 'a destination is listed twice' });
    }
    action = {
      kind: 'forward',
      destinations: Object.freeze([...raw.forward.destinations]),
      deidentify: Object.freeze({ profile: 'basic', options: Object.freeze([...new Set(raw.forward.deidentify.options)]) }),
      pixels: raw.forward.pixels,
    };
  } else {
    action = { kind: 'drop' };
  }
  if (ctx.problems.length > errorsBefore) return undefined;
  return Object.freeze({
    index,
    name: raw.name,
    description: raw.description,
    when,
    action: Object.freeze(action),
    continue: raw.continue,
    line,
  });
}
