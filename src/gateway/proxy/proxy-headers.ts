import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';

/** RFC 9110 7.6.1: connection-specific fields a proxy must not forward, plus those the proxy sets itself. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'host', 'expect', 'content-length',
]);

function connectionListed(headers: IncomingHttpHeaders): Set<string> {
  const value = headers.connection;
  const list = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(list.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean));
}

/**
 * Request headers for the upstream: end-to-end fields unchanged (Accept, Accept-Encoding, Authorization,
 * If-None-Match ...), hop-by-hop fields dropped, Content-Length kept only when the body is relayed unchanged,
 * and Forwarded / X-Forwarded-* added so the upstream writes URLs that point at the gateway (RFC 7239).
 */
export function upstreamRequestHeaders(
  req: IncomingMessage,
  options: { forwarded: boolean; keepContentLength: boolean },
): Record<string, string | string[]> {
  const listed = connectionListed(req.headers);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name) || name.startsWith('x-forwarded-') || name === 'forwarded') continue;
    out[name] = value;
  }
  if (options.keepContentLength && req.headers['content-length'] !== undefined) out['content-length'] = req.headers['content-length'];
  if (options.forwarded) {
    const host = req.headers.host;
    const proto = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    const forAddr = req.socket.remoteAddress ?? 'unknown';
    const quotedFor = forAddr.includes(':') ? `"[${forAddr}]"` : forAddr;
    out.forwarded = host ? `for=${quotedFor};host=${host};proto=${proto}` : `for=${quotedFor};proto=${proto}`;
    out['x-forwarded-for'] = forAddr;
    if (host) out['x-forwarded-host'] = host;
    out['x-forwarded-proto'] = proto;
  }
  return out;
}

/** Response headers for the client: everything end-to-end, hop-by-hop fields dropped (Content-Length kept). */
export function clientResponseHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const listed = connectionListed(headers as IncomingHttpHeaders);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || listed.has(lower)) continue;
    if (HOP_BY_HOP.has(lower) && lower !== 'content-length') continue;
    out[lower] = value;
  }
  return out;
}
