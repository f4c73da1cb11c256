import type { RequestHandler } from 'express';
import { auditableUid, type AuditEventType, type AuditSink } from '../audit/audit-event.js';
import { principalOf } from '../access/access-control.js';
import { senderOf } from '../stow/sender.js';

/**
 * One audit row per clinical DICOMweb request and per de-identify-only upload, written when the answer is
 * complete (or the connection is gone): who, what level, which study as the client named it in the path, the
 * status. A query's keys are recorded by name (PatientID, 00100020, includefield), never their values: a QIDO
 * query string is where patient names and IDs travel.
 */

const ROOTS = new Set(['studies', 'series', 'instances']);
const KEY_NAME = /^[A-Za-z0-9.]{1,64}$/;
const MAX_KEYS_TEXT = 120;

export interface DicomWebRequestFacts {
  type: AuditEventType;
  level: string;
  studyUid?: string;
  queryKeys?: string;
}

/** Query (QIDO-RS: the path ends at a resource list), retrieve (WADO-RS) or store (STOW-RS), and the level. */
export function dicomWebRequestFacts(method: string, url: string, family: 'clinical' | 'deid'): DicomWebRequestFacts {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const segments = path.split('/').filter(Boolean);
  const last = segments[segments.length - 1] ?? '';
  const studyUid = segments[0] === 'studies' ? auditableUid(segments[1]) : undefined;
  if (method === 'POST') return { type: family === 'deid' ? 'research-ingest' : 'clinical-store', level: 'studies', ...(studyUid ? { studyUid } : {}) };
  if (ROOTS.has(last)) return { type: 'clinical-query', level: last, ...(studyUid ? { studyUid } : {}), ...queryKeysOf(q === -1 ? '' : url.slice(q + 1)) };
  // the deepest resource named (each is followed by its UID), plus what of it: metadata, frames, rendered ...
  let level = 'studies';
  let what = '';
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (ROOTS.has(s)) {
      level = s;
      i++;
    } else if (/^[a-z]{1,16}$/.test(s)) {
      what = s;
      break;
    }
  }
  return { type: 'clinical-retrieve', level: what ? `${level}/${what}` : level, ...(studyUid ? { studyUid } : {}) };
}

function queryKeysOf(query: string): { queryKeys?: string } {
  if (query === '') return {};
  const names = new Set<string>();
  for (const pair of query.split('&')) {
    const raw = pair.split('=', 1)[0] ?? '';
    let name: string;
    try {
      name = decodeURIComponent(raw.replace(/\+/g, ' '));
    } catch {
      name = '';
    }
    names.add(KEY_NAME.test(name) ? name : '(other)');
  }
  let text = [...names].sort().join(',');
  if (text.length > MAX_KEYS_TEXT) text = `${text.slice(0, MAX_KEYS_TEXT).replace(/,[^,]*$/, '')},...`;
  return { queryKeys: text };
}

export function requestAudit(audit: AuditSink, family: 'clinical' | 'deid'): RequestHandler {
  return (req, res, next) => {
    const facts = dicomWebRequestFacts(req.method, req.url, family);
    // read now: once the connection is closed the request may no longer have its socket
    const address = senderOf(req, res).address;
    let written = false;
    const write = (): void => {
      if (written) return;
      written = true;
      const principal = principalOf(res);
      const completed = res.writableFinished;
      audit.record({
        type: facts.type,
        outcome: completed && res.statusCode < 400 ? 'success' : 'failure',
        actor: principal?.name,
        credential: principal?.credential,
        address,
        method: req.method,
        route: family === 'deid' ? '/deid/dicom-web' : '/dicom-web',
        status: res.statusCode,
        level: facts.level,
        ...(facts.studyUid ? { studyUid: facts.studyUid } : {}),
        ...(facts.queryKeys || !completed
          ? { detail: { ...(facts.queryKeys ? { queryKeys: facts.queryKeys } : {}), ...(!completed ? { completed: false } : {}) } }
          : {}),
      });
    };
    res.once('finish', write);
    res.once('close', write);
    next();
  };
}
