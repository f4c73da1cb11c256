import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPython } from './external-tools.js';

/**
 * AuditMessage XML checked with a parser we did not write (Python's xml.etree, which refuses XML that is not
 * well-formed), then against the structure of DICOM PS3.15 A.5.1: the elements in schema order, the required
 * attributes, the coded values with csd-code, codeSystemName and originalText, and base64 detail values.
 */

export interface XmlElement {
  tag: string;
  attrib: Record<string, string>;
  children: XmlElement[];
}

const PARSE = `
import json, sys, xml.etree.ElementTree as ET
def walk(e):
    return {"tag": e.tag, "attrib": dict(e.attrib), "children": [walk(c) for c in e]}
out = []
for text in json.load(open(sys.argv[1], encoding="utf-8")):
    try:
        out.append({"ok": walk(ET.fromstring(text.encode("utf-8")))})
    except ET.ParseError as err:
        out.append({"error": str(err)})
print(json.dumps(out))
`;

/** Parse each document; an element tree each, or the parser's error. */
export function parseXmlDocuments(documents: readonly string[]): Array<{ ok?: XmlElement; error?: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'anofair-xml-'));
  try {
    const file = join(dir, 'documents.json');
    writeFileSync(file, JSON.stringify(documents));
    return JSON.parse(runPython(PARSE, [file])) as Array<{ ok?: XmlElement; error?: string }>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function need(problems: string[], where: string, e: XmlElement, names: string[]): void {
  for (const n of names) if (!e.attrib[n]) problems.push(`${where}: ${n} is missing`);
}

function checkCoded(problems: string[], where: string, e: XmlElement | undefined): void {
  if (!e) {
    problems.push(`${where} is missing`);
    return;
  }
  need(problems, where, e, ['csd-code', 'codeSystemName', 'originalText']);
}

/** What is wrong with an AuditMessage, by PS3.15 A.5.1; empty when nothing. */
export function auditMessageProblems(root: XmlElement): string[] {
  const problems: string[] = [];
  if (root.tag !== 'AuditMessage') return [`the root element is ${root.tag}, not AuditMessage`];
  const order = root.children.map((c) => c.tag);
  const expected = /^EventIdentification(,ActiveParticipant)+,AuditSourceIdentification(,ParticipantObjectIdentification)*$/;
  if (!expected.test(order.join(','))) problems.push(`elements out of schema order: ${order.join(', ')}`);
  const event = root.children.find((c) => c.tag === 'EventIdentification');
  if (event) {
    need(problems, 'EventIdentification', event, ['EventActionCode', 'EventDateTime', 'EventOutcomeIndicator']);
    if (!['C', 'R', 'U', 'D', 'E'].includes(event.attrib.EventActionCode ?? '')) problems.push(`EventActionCode ${event.attrib.EventActionCode}`);
    if (!DATE_TIME.test(event.attrib.EventDateTime ?? '')) problems.push(`EventDateTime ${event.attrib.EventDateTime}`);
    if (!['0', '4', '8', '12'].includes(event.attrib.EventOutcomeIndicator ?? '')) problems.push(`EventOutcomeIndicator ${event.attrib.EventOutcomeIndicator}`);
    if (event.children[0]?.tag !== 'EventID') problems.push('EventIdentification does not start with EventID');
    checkCoded(problems, 'EventID', event.children.find((c) => c.tag === 'EventID'));
    for (const t of event.children.filter((c) => c.tag === 'EventTypeCode')) checkCoded(problems, 'EventTypeCode', t);
  }
  const participants = root.children.filter((c) => c.tag === 'ActiveParticipant');
  for (const p of participants) {
    need(problems, 'ActiveParticipant', p, ['UserID', 'UserIsRequestor']);
    if (!['true', 'false'].includes(p.attrib.UserIsRequestor ?? '')) problems.push(`UserIsRequestor ${p.attrib.UserIsRequestor}`);
    if (p.attrib.NetworkAccessPointID && !['1', '2', '3', '4', '5'].includes(p.attrib.NetworkAccessPointTypeCode ?? '')) problems.push('NetworkAccessPointTypeCode');
    for (const r of p.children) {
      if (r.tag !== 'RoleIDCode') problems.push(`ActiveParticipant holds ${r.tag}`);
      else checkCoded(problems, 'RoleIDCode', r);
    }
  }
  if (participants.filter((p) => p.attrib.UserIsRequestor === 'true').length !== 1) problems.push('not exactly one requestor');
  const source = root.children.find((c) => c.tag === 'AuditSourceIdentification');
  if (source) {
    need(problems, 'AuditSourceIdentification', source, ['AuditSourceID']);
    for (const t of source.children) checkCoded(problems, 'AuditSourceTypeCode', t.tag === 'AuditSourceTypeCode' ? t : undefined);
  }
  for (const o of root.children.filter((c) => c.tag === 'ParticipantObjectIdentification')) {
    need(problems, 'ParticipantObjectIdentification', o, ['ParticipantObjectID']);
    if (o.children[0]?.tag !== 'ParticipantObjectIDTypeCode') problems.push('ParticipantObjectIdentification does not start with ParticipantObjectIDTypeCode');
    checkCoded(problems, 'ParticipantObjectIDTypeCode', o.children[0]);
    for (const d of o.children.slice(1)) {
      if (d.tag !== 'ParticipantObjectDetail') problems.push(`ParticipantObjectIdentification holds ${d.tag}`);
      else if (!d.attrib.type || !BASE64.test(d.attrib.value ?? '')) problems.push('ParticipantObjectDetail needs type and a base64 value');
    }
  }
  return problems;
}

/** The ParticipantObjectDetail values of the trail row's object, decoded, by type. */
export function rowDetails(root: XmlElement): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of root.children.filter((c) => c.tag === 'ParticipantObjectIdentification')) {
    if (o.children[0]?.attrib['csd-code'] !== 'audit-seq') continue;
    out.seq = o.attrib.ParticipantObjectID ?? '';
    for (const d of o.children.slice(1)) out[d.attrib.type!] = Buffer.from(d.attrib.value ?? '', 'base64').toString('utf8');
  }
  return out;
}

/** Every attribute value of the tree, base64 detail values decoded: the text a PHI search must look through. */
export function allValues(e: XmlElement): string[] {
  const out = Object.entries(e.attrib).map(([k, v]) => (e.tag === 'ParticipantObjectDetail' && k === 'value' ? Buffer.from(v, 'base64').toString('utf8') : v));
  for (const c of e.children) out.push(...allValues(c));
  return out;
}
