/**
 * What the HTTP side needs of the research pipeline (src/gateway/research-pipeline.ts implements it): hand over
 * one instance; once the promise resolves with queued: true the instance is durably spooled and queued
 * (alreadyQueued: true, it was before: the ledger holds it for each destination).
 * Throws AnofairError (DICOM_PARSE, DICOM_MISSING_ATTRIBUTE, RESEARCH_UNAVAILABLE, IO) when it cannot.
 */
export interface ResearchIntake {
  accept(
    instance: { bytes: Uint8Array },
    sender: { client?: string; address?: string },
    mode: 'tap' | 'deid-only',
  ): Promise<{ sopInstanceUID: string; rule: string | null; queued: boolean; alreadyQueued?: boolean; reason?: string }>;
}
