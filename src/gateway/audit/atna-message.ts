import type { AuditRecord } from './audit-chain.js';
import type { AuditEventType } from './audit-event.js';

/**
 * One audit trail row as a DICOM PS3.15 A.5 AuditMessage (the IHE ATNA XML): EventIdentification with the DCM
 * codes of PS3.16 CID 400 (event ID), CID 401 (event type) and CID 402 (participant roles), the requesting user
 * and the gateway as ActiveParticipants, AuditSourceIdentification, and ParticipantObjectIdentification for the
 * Study Instance UID (CID 404: 110180) and for the trail row itself, whose facts (sequence number, chain hash,
 * detail) travel as ParticipantObjectDetail. Every value comes from the row, which holds no patient data.
 */

interface Code {
  code: string;
  system: string;
  meaning: string;
}

const dcm = (code: string, meaning: string): Code => ({ code, system: 'DCM', meaning });

/** CID 400 Audit Event ID. */
const EVENT = {
  applicationActivity: dcm('110100', 'Application Activity'),
  instancesAccessed: dcm('110103', 'DICOM Instances Accessed'),
  instancesTransferred: dcm('110104', 'DICOM Instances Transferred'),
  export: dcm('110106', 'Export'),
  import: dcm('110107', 'Import'),
  query: dcm('110112', 'Query'),
  securityAlert: dcm('110113', 'Security Alert'),
  userAuthentication: dcm('110114', 'User Authentication'),
};
/** CID 401 Audit Event Type Code. */
const TYPE = {
  applicationStart: dcm('110120', 'Application Start'),
  login: dcm('110122', 'Login'),
  securityConfiguration: dcm('110129', 'Security Configuration'),
  userSecurityAttributesChanged: dcm('110137', 'User Security Attributes Changed'),
  authenticationDecision: dcm('110143', 'Authentication Decision'),
  authorizationDecision: dcm('110144', 'Authorization Decision'),
};
/** CID 402 Audit Active Participant Role ID Code. */
const ROLE = {
  application: dcm('110150', 'Application'),
  destination: dcm('110152', 'Destination Role ID'),
  source: dcm('110153', 'Source Role ID'),
};
const STUDY_INSTANCE_UID = dcm('110180', 'Study Instance UID');
/** AuditSourceTypeCode 4 (RFC 3881 5.4.3): application server process tier. */
const APPLICATION_SERVER: Code = { code: '4', system: 'DCM', meaning: 'Application Server' };
/** A local code (PS3.16 8.2: a private coding scheme designator starts with 99) for the trail row. */
const AUDIT_ROW: Code = { code: 'audit-seq', system: '99ANOFAIR', meaning: 'AnoFAIR audit trail sequence number' };

type Action = 'C' | 'R' | 'U' | 'D' | 'E';

export interface AtnaMapping {
  eventId: Code;
  action: Action;
  eventType?: Code;
  /** The role of the requesting user or client, when the event has one. */
  requestorRole?: Code;
  /** The role of the gateway itself. */
  gatewayRole?: Code;
}

/** How each event type of the trail is written (docs/SECURITY.md has the same table). */
export const ATNA_MAPPING: Readonly<Record<AuditEventType, AtnaMapping>> = {
  'auth-failure': { eventId: EVENT.userAuthentication, action: 'E', eventType: TYPE.login },
  'auth-throttled': { eventId: EVENT.securityAlert, action: 'E', eventType: TYPE.authenticationDecision },
  'access-denied': { eventId: EVENT.securityAlert, action: 'E', eventType: TYPE.authorizationDecision },
  'token-created': { eventId: EVENT.securityAlert, action: 'C', eventType: TYPE.userSecurityAttributesChanged },
  'token-revoked': { eventId: EVENT.securityAlert, action: 'D', eventType: TYPE.userSecurityAttributesChanged },
  // PS3.15 A.5.3.11: the process issuing the query is the Source, the one answering it the Destination
  'clinical-query': { eventId: EVENT.query, action: 'E', requestorRole: ROLE.source, gatewayRole: ROLE.destination },
  'clinical-retrieve': { eventId: EVENT.instancesAccessed, action: 'R', requestorRole: ROLE.destination, gatewayRole: ROLE.source },
  'clinical-store': { eventId: EVENT.instancesTransferred, action: 'C', requestorRole: ROLE.source, gatewayRole: ROLE.destination },
  'research-ingest': { eventId: EVENT.import, action: 'C', requestorRole: ROLE.source, gatewayRole: ROLE.destination },
  forward: { eventId: EVENT.export, action: 'R', gatewayRole: ROLE.source },
  quarantine: { eventId: EVENT.instancesAccessed, action: 'U', gatewayRole: ROLE.application },
  retry: { eventId: EVENT.instancesAccessed, action: 'U', gatewayRole: ROLE.application },
  discard: { eventId: EVENT.instancesAccessed, action: 'D', gatewayRole: ROLE.application },
  // a dry run shows an operator the values de-identification would change: an access to the instance
  'dry-run': { eventId: EVENT.instancesAccessed, action: 'R', gatewayRole: ROLE.application },
  // an export run queries and retrieves from the PACS on its own account (PS3.15 A.5.3.11: the querying process is the Source)
  'export-run': { eventId: EVENT.query, action: 'E', gatewayRole: ROLE.source },
  'config-load': { eventId: EVENT.applicationActivity, action: 'E', eventType: TYPE.applicationStart, gatewayRole: ROLE.application },
  'key-use': { eventId: EVENT.applicationActivity, action: 'E', eventType: TYPE.securityConfiguration, gatewayRole: ROLE.application },
};

export interface AtnaSource {
  /** AuditSourceID (default: the host name). */
  sourceId: string;
  enterpriseSiteId?: string;
  /** The gateway's UserID (the syslog APP-NAME) and where it runs. */
  appName: string;
  hostname: string;
  processId: number;
}

/** XML attribute text: escaped, and whitespace collapsed as the schema's xs:token type expects. */
function attr(value: string | number): string {
  return String(value)
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

const coded = (element: string, c: Code): string => `<${element} csd-code="${attr(c.code)}" codeSystemName="${attr(c.system)}" originalText="${attr(c.meaning)}"/>`;

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** What the gateway is: a machine name (NetworkAccessPointTypeCode 1) or an address (2). */
function accessPointType(address: string): '1' | '2' {
  return /^[0-9.]+$/.test(address) || address.includes(':') ? '2' : '1';
}

export function atnaMessage(record: AuditRecord, source: AtnaSource): string {
  const m = ATNA_MAPPING[record.type];
  const parts: string[] = ['<?xml version="1.0" encoding="UTF-8"?>', '<AuditMessage>'];
  // EventOutcomeIndicator (RFC 3881 5.1.4): 0 success, 4 minor failure (the request was refused or failed)
  parts.push(
    `<EventIdentification EventActionCode="${m.action}" EventDateTime="${new Date(record.time).toISOString()}" EventOutcomeIndicator="${record.outcome === 'success' ? 0 : 4}">`,
    coded('EventID', m.eventId),
    ...(m.eventType ? [coded('EventTypeCode', m.eventType)] : []),
    '</EventIdentification>',
  );

  // events the gateway makes on its own (credential system) have no requestor but the gateway
  const byClient = record.credential !== 'system' && (record.actor !== undefined || record.address !== undefined);
  const requestor = byClient ? (record.actor ?? 'anonymous') : undefined;
  if (requestor !== undefined) {
    const access = record.address ? ` NetworkAccessPointID="${attr(record.address)}" NetworkAccessPointTypeCode="${accessPointType(record.address)}"` : '';
    parts.push(`<ActiveParticipant UserID="${attr(requestor)}" UserIsRequestor="true"${access}>`, ...(m.requestorRole ? [coded('RoleIDCode', m.requestorRole)] : []), '</ActiveParticipant>');
  }
  parts.push(
    `<ActiveParticipant UserID="${attr(source.appName)}" AlternativeUserID="${source.processId}" UserIsRequestor="${requestor === undefined}" NetworkAccessPointID="${attr(source.hostname)}" NetworkAccessPointTypeCode="${accessPointType(source.hostname)}">`,
    ...(m.gatewayRole ? [coded('RoleIDCode', m.gatewayRole)] : []),
    '</ActiveParticipant>',
  );
  const destination = record.detail?.destination;
  if (record.type === 'forward' && typeof destination === 'string') {
    parts.push(`<ActiveParticipant UserID="${attr(destination)}" UserIsRequestor="false">`, coded('RoleIDCode', ROLE.destination), '</ActiveParticipant>');
  }

  const site = source.enterpriseSiteId ? ` AuditEnterpriseSiteID="${attr(source.enterpriseSiteId)}"` : '';
  parts.push(`<AuditSourceIdentification${site} AuditSourceID="${attr(source.sourceId)}">`, coded('AuditSourceTypeCode', APPLICATION_SERVER), '</AuditSourceIdentification>');

  if (record.studyUid !== undefined && record.studyUid !== '(not a UID)') {
    // ParticipantObjectTypeCode 2 system object, role 3 report (RFC 3881 5.5): the study
    parts.push(`<ParticipantObjectIdentification ParticipantObjectID="${attr(record.studyUid)}" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="3">`, coded('ParticipantObjectIDTypeCode', STUDY_INSTANCE_UID), '</ParticipantObjectIdentification>');
  }
  // the row itself (type 2 system object, role 4 resource): its chain hash and facts, as type/value pairs
  const facts: Array<[string, string]> = [['hash', record.hash]];
  for (const key of ['credential', 'method', 'route', 'status', 'level'] as const) {
    if (record[key] !== undefined) facts.push([key, String(record[key])]);
  }
  for (const [key, value] of Object.entries(record.detail ?? {})) facts.push([`detail.${key}`, String(value)]);
  parts.push(
    `<ParticipantObjectIdentification ParticipantObjectID="${record.seq}" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="4">`,
    coded('ParticipantObjectIDTypeCode', AUDIT_ROW),
    ...facts.map(([type, value]) => `<ParticipantObjectDetail type="${attr(type)}" value="${b64(value)}"/>`),
    '</ParticipantObjectIdentification>',
    '</AuditMessage>',
  );
  return parts.join('');
}
