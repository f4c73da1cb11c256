import { AUDIT_EVENT_TYPES, type AuditCredential, type AuditDetailValue, type AuditEvent } from './audit-event.js';

/**
 * The second line of defence of the audit trail: a value is written only when it looks like what the event shape
 * allows (an identifier the gateway made, a count, a name from the configuration, an address, a route). The
 * callers put no patient data in events; should one ever try, a value that could be free text (too long, or with
 * a character outside a small set: no "^" of a DICOM person name, no accents, no line breaks, no quotes) is
 * replaced by a marker and the refusal is counted, so that the row still says that something happened.
 */

/** Letters, digits, space and . _ : @ / + = , ( ) - : names, ids, addresses, routes and lists of them. */
const SAFE_TEXT = /^[A-Za-z0-9 ._:@/+=,()-]*$/;
export const MAX_TEXT = 128;
const DETAIL_KEY = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const MAX_DETAIL_ENTRIES = 32;
const CREDENTIALS: ReadonlySet<string> = new Set<AuditCredential>(['api-token', 'config-token', 'oidc', 'none', 'system']);
const TYPES: ReadonlySet<string> = new Set(AUDIT_EVENT_TYPES);
const UID = /^[0-9]+(\.[0-9]+)*$/;

/** What a refused value is written as. */
export const REFUSED = '(refused)';

export function isSafeText(text: string): boolean {
  return text.length <= MAX_TEXT && SAFE_TEXT.test(text);
}

export interface CheckedEvent {
  event: AuditEvent;
  /** Field paths whose value was replaced or left out (e.g. "actor", "detail.reason"). */
  refused: string[];
}

/** Field names of AuditEvent that hold text, each checked alike. */
const TEXT_FIELDS = ['actor', 'address', 'method', 'route', 'level'] as const;

/**
 * The event as it will be written: every text value safe or replaced by REFUSED, the credential one of the known
 * kinds, the status an HTTP status, the study UID in the form of a UID, at most 32 detail entries. Returns
 * undefined for an event of no known type (nothing sensible can be written for it).
 */
export function checkEvent(input: AuditEvent): CheckedEvent | undefined {
  if (typeof input !== 'object' || input === null || !TYPES.has(input.type)) return undefined;
  const refused: string[] = [];
  const event: AuditEvent = { type: input.type, outcome: input.outcome === 'success' ? 'success' : 'failure' };
  if (input.outcome !== 'success' && input.outcome !== 'failure') refused.push('outcome');
  for (const field of TEXT_FIELDS) {
    const value: unknown = input[field];
    if (value === undefined) continue;
    if (typeof value === 'string' && isSafeText(value)) event[field] = value;
    else {
      event[field] = REFUSED;
      refused.push(field);
    }
  }
  if (input.credential !== undefined) {
    if (CREDENTIALS.has(input.credential)) event.credential = input.credential;
    else refused.push('credential');
  }
  if (input.status !== undefined) {
    if (Number.isInteger(input.status) && input.status >= 100 && input.status <= 599) event.status = input.status;
    else refused.push('status');
  }
  if (input.studyUid !== undefined) {
    const uid: unknown = input.studyUid;
    if (typeof uid === 'string' && ((UID.test(uid) && uid.length <= 64) || uid === '(not a UID)')) event.studyUid = uid;
    else {
      event.studyUid = '(not a UID)';
      refused.push('studyUid');
    }
  }
  if (input.detail !== undefined) {
    const detail: Record<string, AuditDetailValue> = {};
    const entries = typeof input.detail === 'object' && input.detail !== null ? Object.entries(input.detail) : [];
    if (entries.length > MAX_DETAIL_ENTRIES) refused.push(`detail (${entries.length - MAX_DETAIL_ENTRIES} entries past ${MAX_DETAIL_ENTRIES})`);
    for (const [key, value] of entries.slice(0, MAX_DETAIL_ENTRIES)) {
      if (!DETAIL_KEY.test(key)) {
        refused.push('detail key');
        continue;
      }
      const ok =
        (typeof value === 'string' && isSafeText(value)) ||
        (typeof value === 'number' && Number.isFinite(value)) ||
        typeof value === 'boolean';
      if (ok) detail[key] = value;
      else {
        detail[key] = REFUSED;
        refused.push(`detail.${key}`);
      }
    }
    if (refused.length > 0) detail.refused = refused.join(',').slice(0, MAX_TEXT);
    if (Object.keys(detail).length > 0) event.detail = detail;
  } else if (refused.length > 0) {
    event.detail = { refused: refused.join(',').slice(0, MAX_TEXT) };
  }
  return { event, refused };
}
