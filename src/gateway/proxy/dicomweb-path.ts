import { AnofairError } from '../../errors/anofair-error.js';

/**
 * The DICOMweb resources the gateway relays (PS3.18 10.4 WADO-RS, 10.6 QIDO-RS, 10.5 STOW-RS): paths below
 * /studies, /series or /instances whose segments are UIDs, frame lists, keywords or bulk data tags. Anything
 * else, in particular "." / ".." segments and percent-encoded bytes, is refused before it reaches the upstream:
 * a relayed "/dicom-web/../tools" would otherwise open the PACS's private REST API.
 */
const SEGMENT = /^[0-9A-Za-z][0-9A-Za-z.,_-]*$/;
const ROOTS = new Set(['studies', 'series', 'instances']);

export interface DicomWebTarget {
  /** The path, validated, starting with "/". */
  path: string;
  /** The query string including "?" exactly as received (not re-encoded), or "". */
  query: string;
  segments: readonly string[];
}

/** Validate the part of the URL after the gateway's /dicom-web mount point. */
export function dicomWebTarget(url: string): DicomWebTarget {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q);
  const segments = path.split('/').slice(1);
  if (segments.length > 0 && segments[segments.length - 1] === '') segments.pop(); // a trailing "/"
  if (segments.length === 0 || !ROOTS.has(segments[0]!)) {
    throw new AnofairError('NOT_FOUND', 'no such DICOMweb resource: the gateway serves /dicom-web/studies, /dicom-web/series and /dicom-web/instances', {
      resource: segments[0] ?? '',
    });
  }
  for (const s of segments) {
    if (!SEGMENT.test(s) || s.includes('..')) {
      throw new AnofairError('BAD_REQUEST', 'the resource path has a segment that is not a UID, a number list or a keyword');
    }
  }
  if (/[\r\n#]/.test(query)) throw new AnofairError('BAD_REQUEST', 'the query string has characters that are not allowed');
  return { path: `/${segments.join('/')}`, query, segments };
}

/** A label for logs and metrics that holds no UID: e.g. "studies/{uid}/series/{uid}/metadata". */
export function resourceLabel(segments: readonly string[]): string {
  return segments.map((s) => (/^[0-9.]+$/.test(s) && s.includes('.') ? '{uid}' : /^[0-9,]+$/.test(s) ? '{n}' : /^[0-9a-fA-F]{8}$/.test(s) ? '{tag}' : s)).join('/');
}
