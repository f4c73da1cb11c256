import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';

/**
 * The Host names this gateway answers for. The Host header is relayed to the PACS in Forwarded and becomes part
 * of the URLs the PACS writes into its answers (RetrieveURL, BulkDataURI): a forged Host would point clients at
 * another server (host header injection). Entries are names or addresses, compared without the port and
 * case-insensitively; "*.example.org" matches any name below example.org.
 */

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/**
 * The default list: the configured listen name, and for a wildcard listener this machine's host name and
 * interface addresses; the loopback names always (local tools and probes use them).
 */
export function defaultAllowedHosts(listenHost: string): string[] {
  const names = new Set<string>(LOOPBACK_NAMES);
  if (isWildcard(listenHost)) {
    names.add(hostname().toLowerCase());
    for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) names.add(i.address.toLowerCase());
  } else {
    names.add(listenHost.replace(/^\[|\]$/g, '').toLowerCase());
    if (!isLoopbackHost(listenHost)) names.add(hostname().toLowerCase());
  }
  return [...names];
}

/** The host part of a Host header value (no port, IPv6 without brackets, lower case), or undefined if malformed. */
export function hostOf(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const h = header.trim().toLowerCase();
  const v6 = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(h);
  if (v6) return v6[1];
  const named = /^([a-z0-9.-]+)(?::\d{1,5})?$/.exec(h);
  return named ? named[1]!.replace(/\.$/, '') : undefined;
}

export class HostAllowList {
  private readonly exact = new Set<string>();
  private readonly suffixes: string[] = [];

  constructor(readonly entries: readonly string[]) {
    for (const e of entries) {
      const v = e.trim().toLowerCase().replace(/^\[|\]$/g, '');
      if (v.startsWith('*.')) this.suffixes.push(v.slice(1));
      else this.exact.add(v);
    }
  }

  allows(hostHeader: string | undefined): boolean {
    const host = hostOf(hostHeader);
    if (host === undefined) return false;
    return this.exact.has(host) || this.suffixes.some((s) => host.endsWith(s) && host.length > s.length);
  }
}
