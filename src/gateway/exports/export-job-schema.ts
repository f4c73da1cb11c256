import cron from 'node-cron';
import { z } from 'zod';

/**
 * Export jobs as data: the `exports:` section of the configuration, validated when it loads. A job selects
 * studies on the clinical PACS with a QIDO-RS query over a relative study-date window, routes their instances
 * with the routing rules (all of them, or the ones it names) and sends them through the same de-identification
 * and forwarding as the STOW tap, exactly once (the store's ledger).
 */

const timeOfDay = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a time of day as HH:MM (24 h)');

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const timeZoneSchema = z.string().min(1).refine(isTimeZone, { message: 'not an IANA time zone (e.g. Europe/Berlin, UTC)' });

/** Which study dates a run selects, relative to the day it runs on (in the job's time zone). */
export const studyDateWindowSchema = z.union([
  z.enum(['today', 'yesterday']),
  z.strictObject({
    /** The N whole days before today: lastDays 7 on the 8th selects the 1st to the 7th. */
    lastDays: z.number().int().min(1).max(366),
  }),
]);
export type StudyDateWindowSpec = z.infer<typeof studyDateWindowSchema>;

/** A QIDO-RS matching key of the study level: a keyword or an 8-digit tag, and its value (wildcards * ? allowed). */
const MATCH_KEY = /^([A-Za-z][A-Za-z0-9]*|[0-9A-Fa-f]{8})$/;

export const exportQuerySchema = z.strictObject({
  studyDate: studyDateWindowSchema.default('yesterday'),
  /** ModalitiesInStudy: a study matches when it has any of these. */
  modalitiesInStudy: z.array(z.string().regex(/^[A-Z0-9_]{1,16}$/, 'expected a modality code such as CR or DX')).min(1).optional(),
  studyDescription: z.string().min(1).max(64).optional(),
  /** Any other matching keys the PACS supports at the study level, e.g. { InstitutionName: "NORTH*" }. */
  attributes: z
    .record(z.string(), z.string().min(1).max(256))
    .superRefine((attrs, ctx) => {
      for (const key of Object.keys(attrs)) {
        if (!MATCH_KEY.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: `"${key}" is not a DICOM keyword or an 8-digit tag` });
      }
    })
    .default({}),
  /** Studies per QIDO-RS page (limit/offset). */
  pageSize: z.number().int().min(1).max(1_000).default(100),
});

export const exportLimitsSchema = z.strictObject({
  /** WADO-RS retrieves in flight at once against the clinical PACS. */
  concurrentRetrieves: z.number().int().min(1).max(16).default(2),
  /** Instances retrieved per second at most (0: unlimited). */
  instancesPerSecond: z.number().min(0).max(10_000).default(20),
  /**
   * Hours in which the job may load the PACS, in its time zone; outside them it pauses and resumes when the
   * window opens again. `from` after `to` spans midnight (20:00-06:00).
   */
  window: z.strictObject({ from: timeOfDay, to: timeOfDay }).optional(),
});

export const exportJobSchema = z
  .strictObject({
    description: z.string().max(500).optional(),
    /** When it runs by itself (inside `anofair serve`); without one the job runs only when asked. */
    schedule: z
      .strictObject({
        cron: z.string().min(1).refine((e) => cron.validate(e), { message: 'not a cron expression (five or six fields, e.g. "0 2 * * *")' }),
        /** A run missed while the gateway was down is made up once at start. */
        catchUp: z.boolean().default(true),
      })
      .optional(),
    /** The time zone of the schedule, the study-date window and the limits' hours. */
    timeZone: timeZoneSchema.default('UTC'),
    query: exportQuerySchema.default(exportQuerySchema.parse({})),
    /** Names of the routing rules that route this job's instances (in file order); default: the whole rule set. */
    rules: z.array(z.string().min(1)).min(1).optional(),
    limits: exportLimitsSchema.default(exportLimitsSchema.parse({})),
    /**
     * How long a run waits, after the last instance was queued, for the forwarder to deliver or quarantine them
     * before it reports; what is still waiting then makes the run 'incomplete' (it goes on being retried).
     */
    settleTimeoutMs: z.number().int().min(1_000).max(24 * 3_600_000).default(30 * 60_000),
    /** After the run: a QIDO-RS search at each destination for what the ledger says was delivered. */
    reconcile: z.boolean().default(true),
  });

export const exportsSchema = z.record(z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a job name is lower case letters, digits and dashes'), exportJobSchema).default({});

export type ExportJobConfig = z.infer<typeof exportJobSchema>;
export type ExportsConfig = z.infer<typeof exportsSchema>;
