import type { AuditCredential } from '../audit/audit-event.js';

/**
 * What a credential may do. Each route family of the gateway needs exactly one scope; a token carries the scopes
 * its holder's job needs and no more (a modality gets clinical, a research uploader research-ingest, the
 * monitoring system metrics).
 */
export const SCOPES = ['clinical', 'research-ingest', 'operator', 'privacy', 'metrics'] as const;
export type Scope = (typeof SCOPES)[number];

export const SCOPE_MEANING: Readonly<Record<Scope, string>> = {
  clinical: 'the clinical DICOMweb proxy (/dicom-web: QIDO-RS, WADO-RS, STOW-RS)',
  'research-ingest': 'the de-identify-only STOW-RS endpoint (/deid/dicom-web)',
  operator: 'the research queue and quarantine retries (/api/queue, /api/quarantine, POST .../retry, /status) and the export jobs (/api/exports)',
  privacy: 'the rules dry run (research UIDs of an instance) and discarding quarantined instances',
  metrics: 'Prometheus metrics (/metrics)',
};

export function isScope(text: string): text is Scope {
  return (SCOPES as readonly string[]).includes(text);
}

/** Who made a request, once authenticated: set on res.locals.principal by the access-control middleware. */
export interface Principal {
  /** Token, client or OIDC subject name; 'anonymous' where authentication is off or optional and none was sent. */
  name: string;
  credential: AuditCredential;
  scopes: ReadonlySet<Scope>;
  /** The API token's id, for the audit trail. */
  tokenId?: string;
}

/**
 * The scope a request below /api needs. The research API's routes are few and known; anything else under /api
 * needs both operator and privacy before it can even be told that it does not exist.
 */
export function researchApiScopes(method: string, path: string): readonly Scope[] {
  const p = path.toLowerCase().replace(/\/+$/, '');
  if (method === 'POST' && p === '/rules/dry-run') return ['privacy'];
  if (method === 'DELETE' && /^\/quarantine\/[^/]+$/.test(p)) return ['privacy'];
  if ((method === 'GET' || method === 'HEAD') && (p === '/queue' || p === '/quarantine')) return ['operator'];
  if (method === 'POST' && /^\/quarantine\/[^/]+\/retry$/.test(p)) return ['operator'];
  return ['operator', 'privacy'];
}
