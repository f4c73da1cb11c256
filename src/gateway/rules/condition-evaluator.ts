import { isIPv4, isIPv6 } from 'node:net';
import type { DicomFile } from '../../dicom/dataset.js';
import { reach, type AttributeValue } from './attribute-path.js';
import type { AttributeTest, Condition, Sender } from './rule-types.js';

/** What a condition is evaluated against: the instance and who sent it. */
export interface MatchInput {
  file: DicomFile;
  sender: Sender;
}

function sameText(a: AttributeValue, b: string | number, ignoreCase: boolean): boolean {
  if (typeof b === 'number') {
    const n = typeof a === 'number' ? a : Number(a);
    return Number.isFinite(n) && n === b;
  }
  const left = String(a);
  return ignoreCase ? left.toUpperCase() === b.toUpperCase() : left === b;
}

function valueMatches(test: AttributeTest, value: AttributeValue): boolean {
  switch (test.op) {
    case 'equals':
      return sameText(value, test.value, test.ignoreCase);
    case 'oneOf':
      return test.values.some((v) => sameText(value, v, test.ignoreCase));
    case 'regex':
      return test.pattern.test(String(value));
    case 'range': {
      const n = typeof value === 'number' ? value : Number(value);
      if (!Number.isFinite(n) || (typeof value === 'string' && value.trim() === '')) return false;
      return (test.min === undefined || n >= test.min) && (test.max === undefined || n <= test.max);
    }
    case 'dateRange': {
      const date = String(value).slice(0, 8);
      if (!/^\d{8}$/.test(date)) return false;
      return (test.from === undefined || date >= test.from) && (test.to === undefined || date <= test.to);
    }
    case 'exists':
      return true;
  }
}

/** IPv4-mapped IPv6 ("::ffff:10.1.2.3", as Node reports IPv4 peers on dual-stack sockets) to plain IPv4. */
export function normaliseAddress(address: string): { address: string; type: 'ipv4' | 'ipv6' } | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const plain = mapped ? mapped[1]! : address;
  if (isIPv4(plain)) return { address: plain, type: 'ipv4' };
  if (isIPv6(plain)) return { address: plain, type: 'ipv6' };
  return undefined;
}

/**
 * Evaluate one condition. A multi-valued attribute, or one reached through several sequence items, matches
 * when any of its values matches. `exists` means present with a value (a sequence: with an item); an
 * attribute present but empty (PS3.5 type 2) does not exist for this purpose.
 */
export function evaluate(condition: Condition, input: MatchInput): boolean {
  switch (condition.kind) {
    case 'all':
      return condition.of.every((c) => evaluate(c, input));
    case 'any':
      return condition.of.some((c) => evaluate(c, input));
    case 'not':
      return !evaluate(condition.of, input);
    case 'authenticated':
      return (input.sender.client !== undefined && input.sender.client !== '') === condition.value;
    case 'client':
      return input.sender.client !== undefined && condition.names.has(input.sender.client);
    case 'address': {
      const peer = input.sender.address === undefined ? undefined : normaliseAddress(input.sender.address);
      return peer !== undefined && condition.list.check(peer.address, peer.type);
    }
    case 'attribute': {
      const reached = reach(input.file, condition.path);
      if (condition.test.op === 'exists') {
        const present = reached.some((r) => r.values.length > 0 || (r.items ?? 0) > 0);
        return present === condition.test.value;
      }
      const test = condition.test;
      return reached.some((r) => r.values.some((v) => valueMatches(test, v)));
    }
  }
}
