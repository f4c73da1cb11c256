/**
 * One security-relevant event, as the gateway records it in its append-only audit trail. The shape is
 * PHI-free by construction: who (a client or token name, never a patient), what (an event type, a route family,
 * a query level, the names of the query keys but never their values), which study (its UID only as the client
 * wrote it in a URL, and only when it has the form of a UID), and the outcome. Free text has no field here.
 */

export const AUDIT_EVENT_TYPES = [
  // access control
  'auth-failure',
  'auth-throttled',
  'access-denied',
  'token-created',
  'token-revoked',
  // the clinical proxy
  'clinical-query',
  'clinical-retrieve',
  'clinical-store',
  // the research path
  'research-ingest',
  'forward',
  'quarantine',
  'retry',
  'discard',
  'dry-run',
  'export-run',
  // the gateway itself
  'config-load',
  'key-use',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export type AuditOutcome = 'success' | 'failure';

/** How the actor proved who it is. */
export type AuditCredential = 'api-token' | 'config-token' | 'oidc' | 'none' | 'system';

/** Values a detail may hold: identifiers the gateway made up, counts, names from the configuration. */
export type AuditDetailValue = string | number | boolean;

export interface AuditEvent {
  type: AuditEventType;
  outcome: AuditOutcome;
  /** The client, token or OIDC subject name; 'gateway' for what the gateway does on its own. */
  actor?: string;
  credential?: AuditCredential;
  /** The peer address of the request. */
  address?: string;
  /** HTTP method and route family ('/dicom-web', '/deid/dicom-web', '/api/quarantine', ...), never the query. */
  method?: string;
  route?: string;
  /** The HTTP status answered. */
  status?: number;
  /** QIDO/WADO level: studies, series, instances, frames, metadata, rendered, bulkdata. */
  level?: string;
  /** The Study Instance UID as the client wrote it in the path (checked to have the form of a UID). */
  studyUid?: string;
  /**
   * Small facts: a queue item id, a destination or rule name, a count, a reason code, a key id, the names of
   * the QIDO query keys. Never a value taken from a DICOM instance or from a query string.
   */
  detail?: Readonly<Record<string, AuditDetailValue>>;
}

/** Who asked for an operation and through which route, for the events of operations run on request. */
export type AuditActor = Pick<AuditEvent, 'actor' | 'credential' | 'address' | 'method' | 'route'>;

/** Where events go. record() never throws into the caller's path: an audit failure is logged and counted. */
export interface AuditSink {
  record(event: AuditEvent): void;
}

/** For code paths (tests, CLI dry runs) that have no audit trail to write to. */
export const NO_AUDIT: AuditSink = { record: () => undefined };

/** A Study Instance UID from a URL, kept only when it has the form of a UID (PS3.5 9.1); otherwise a marker. */
export function auditableUid(text: string | undefined): string | undefined {
  if (text === undefined || text === '') return undefined;
  return /^[0-9]+(\.[0-9]+)*$/.test(text) && text.length <= 64 ? text : '(not a UID)';
}
