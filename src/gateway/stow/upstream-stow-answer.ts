import { parseStowResponse } from '../forwarding/stow-response.js';
import { mediaEssence } from './media-type.js';

/** What the clinical PACS says it stored, read from its STOW-RS answer. */
export type StoredByUpstream =
  | { kind: 'listed'; sopInstanceUIDs: ReadonlySet<string> }
  /** 200 without a readable body: PS3.18 10.5.3 says every instance was stored. */
  | { kind: 'all' }
  | { kind: 'none'; why: string };

const REFERENCED_SOP_SEQUENCE = '00081199';
const REFERENCED_SOP_INSTANCE_UID = '00081155';

/**
 * The Referenced SOP Sequence (0008,1199) of a PS3.19 Native DICOM Model (XML) answer. A small reader for the
 * one structure we need: DicomAttribute elements nest through Item elements; Value holds the text.
 */
export function referencedUidsFromXml(xml: string): Set<string> | undefined {
  if (!/<NativeDicomModel[\s>]/.test(xml)) return undefined;
  const uids = new Set<string>();
  const token = /<(\/?)(DicomAttribute|Item|Value)\b([^>]*?)(\/?)>|([^<]+)/g;
  const stack: Array<{ name: string; tag?: string }> = [];
  let text = '';
  for (let m = token.exec(xml); m; m = token.exec(xml)) {
    const [, closing, name, attrs, selfClosing, chars] = m;
    if (chars !== undefined) {
      text += chars;
      continue;
    }
    if (!closing) {
      const tag = /\btag="([0-9A-Fa-f]{8})"/.exec(attrs ?? '')?.[1]?.toUpperCase();
      if (!selfClosing) stack.push({ name: name!, tag });
      text = '';
      continue;
    }
    const top = stack.pop();
    if (name === 'Value' && top?.name === 'Value') {
      const attr = stack[stack.length - 1];
      // Value of (0008,1155) inside an Item of (0008,1199), at the top level of the data set.
      const path = stack.filter((s) => s.name === 'DicomAttribute').map((s) => s.tag);
      if (attr?.tag === REFERENCED_SOP_INSTANCE_UID && path.length === 2 && path[0] === REFERENCED_SOP_SEQUENCE) {
        const uid = text.trim();
        if (uid) uids.add(uid);
      }
    }
    text = '';
  }
  return uids;
}

/**
 * Which instances the upstream stored. The Referenced SOP Sequence is trusted whatever the status, because
 * servers differ: Orthanc's DICOMweb plugin 1.7 answers 400 when one part is bad yet stores the others and lists
 * them. Without a readable body only a 200 means "all stored" (PS3.18 10.5.3).
 */
export function storedByUpstream(status: number, contentType: string | undefined, body: string): StoredByUpstream {
  const essence = mediaEssence(contentType);
  if (essence === 'application/dicom+xml' || (essence !== 'application/dicom+json' && essence !== 'application/json' && body.trimStart().startsWith('<'))) {
    const uids = referencedUidsFromXml(body);
    if (uids) return { kind: 'listed', sopInstanceUIDs: uids };
  } else {
    const parsed = parseStowResponse(body);
    if (parsed) return { kind: 'listed', sopInstanceUIDs: new Set(parsed.stored.keys()) };
  }
  if (status === 200) return { kind: 'all' };
  return { kind: 'none', why: `the upstream answered ${status} without a readable Store Instances Response` };
}
