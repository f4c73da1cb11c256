/**
 * A parsed media type (RFC 9110 8.3.1): type/subtype in lower case and parameters with lower-case names.
 * Parameter values keep their case (a multipart boundary is case-sensitive, RFC 2046 5.1.1).
 */
export interface MediaType {
  type: string;
  params: ReadonlyMap<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Parse a Content-Type value; undefined when it is not a media type. Quoted-string values are unquoted. */
export function parseMediaType(value: string | undefined): MediaType | undefined {
  if (!value) return undefined;
  let i = 0;
  const text = value.trim();
  const semi = text.indexOf(';');
  const essence = (semi === -1 ? text : text.slice(0, semi)).trim().toLowerCase();
  const [type, subtype, extra] = essence.split('/');
  if (!type || !subtype || extra !== undefined || !TOKEN.test(type) || !TOKEN.test(subtype)) return undefined;
  const params = new Map<string, string>();
  i = semi === -1 ? text.length : semi + 1;
  while (i < text.length) {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === ';')) i++;
    if (i >= text.length) break;
    const eq = text.indexOf('=', i);
    if (eq === -1) return undefined;
    const name = text.slice(i, eq).trim().toLowerCase();
    if (!TOKEN.test(name)) return undefined;
    i = eq + 1;
    let paramValue = '';
    if (text[i] === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        paramValue += text[i];
        i++;
      }
      if (text[i] !== '"') return undefined;
      i++;
    } else {
      const end = text.indexOf(';', i);
      paramValue = (end === -1 ? text.slice(i) : text.slice(i, end)).trim();
      i = end === -1 ? text.length : end;
    }
    if (!params.has(name)) params.set(name, paramValue);
  }
  return { type: `${type}/${subtype}`, params };
}

/** The essence (type/subtype) of a media type, lower-cased, or '' when absent or unparsable. */
export function mediaEssence(value: string | undefined): string {
  return parseMediaType(value)?.type ?? '';
}
