import type { PartHeaders } from './multipart-parser.js';
import { parseMediaType } from './media-type.js';

/**
 * Rewrite a part's header block without the `transfer-syntax` parameter of its Content-Type (PS3.18 8.7.3.5.2
 * allows it; Orthanc's DICOMweb plugin 1.7 silently stores nothing for such parts). The parameter repeats what
 * the instance's File Meta Information (0002,0010) says, so nothing is lost. Other fields and parameters stay
 * as they were; returns undefined when there is nothing to strip.
 */
export function stripTransferSyntax(headers: PartHeaders): Buffer | undefined {
  const media = parseMediaType(headers.fields.get('content-type'));
  if (!media || !media.params.has('transfer-syntax')) return undefined;
  const params = [...media.params].filter(([name]) => name !== 'transfer-syntax');
  const value = [media.type, ...params.map(([n, v]) => (/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(v) ? `${n}=${v}` : `${n}="${v.replace(/(["\\])/g, '\\$1')}"`))].join('; ');
  // Group folded continuation lines with their field, then replace the Content-Type field.
  const fields: string[] = [];
  for (const line of headers.raw.toString('latin1').split('\r\n')) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && fields.length > 0) fields[fields.length - 1] += `\r\n${line}`;
    else fields.push(line);
  }
  let replaced = false;
  const out = fields.map((field) => {
    if (!replaced && /^content-type\s*:/i.test(field)) {
      replaced = true;
      return `Content-Type: ${value}`;
    }
    return field;
  });
  return Buffer.from(out.join('\r\n'), 'latin1');
}
