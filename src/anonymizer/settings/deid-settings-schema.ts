import { z } from 'zod';
import { PROFILE_OPTIONS } from '../deid-types.js';

/**
 * The `deidentification:` section of the configuration, shared by `anofair deidentify`, the gateway and
 * export jobs. Strict: an unknown key is an error, not something silently ignored.
 */
export const deidSettingsSchema = z
  .object({
    /** PS3.15 options by their kebab-case names, in addition to the Basic Profile. */
    options: z.array(z.enum(PROFILE_OPTIONS)).default([]),
    /**
     * The pseudonymisation key: a file holding at least 32 random bytes (as produced by `anofair keygen`),
     * or the environment variable ANOFAIR_DEID_KEY (base64 or hex) which takes precedence.
     */
    keyFile: z.string().min(1).optional(),
    /** A name for the key recorded in every de-identification record; default: a fingerprint of the key. */
    keyId: z.string().min(1).max(48).optional(),
    /** Range of the keyed per-patient date shift in days (retain-long-modified-dates). */
    dateShiftDays: z
      .object({ min: z.number().int().min(-36500), max: z.number().int().max(36500) })
      .strict()
      .refine((r) => r.min <= r.max, { message: 'min must not be greater than max' })
      .default({ min: -730, max: 730 }),
    /** CSV file "original Patient ID,subject ID" (a header row is allowed). */
    subjectLookup: z.string().min(1).optional(),
    /** Free-text policy per attribute keyword for Clean Descriptors / Clean Structured Content. */
    cleaningPolicy: z.record(z.string(), z.enum(['scrub', 'remove', 'empty'])).default({}),
    /** Instances without Burned In Annotation presumed to carry burned-in text (fail closed). */
    burnedInPresumption: z
      .object({ modalities: z.array(z.string()), sopClassPrefixes: z.array(z.string()) })
      .strict()
      .optional(),
    /** CXR-AnoFAIR pixel anonymization: used by rules with pixels: cxr-anofair and by anofair deidentify --pixels. */
    pixels: z
      .object({
        /** Folder with detector/ and inpaint/ (default: the shipped demo models, synthetic data only). */
        models: z.string().min(1).optional(),
        /** Modality values it applies to (default CR, DX) and Body Part Examined values (default CHEST; absent counts). */
        modalities: z.array(z.string().min(1)).min(1).optional(),
        bodyParts: z.array(z.string().min(1)).min(1).optional(),
        /** Sampler steps (default 20) and classifier-free guidance (default 7.5), as the method. */
        steps: z.number().int().min(1).max(200).optional(),
        guidanceScale: z.number().min(1).max(30).optional(),
        /** Minimum detector score of a kept disease region or a found text line (default 0.25). */
        confidence: z.number().gt(0).lt(1).optional(),
        /** onnxruntime execution providers in order of preference (default [cpu]; [cuda, cpu] on a GPU host). */
        executionProviders: z.array(z.enum(['cpu', 'cuda'])).min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type DeidSettings = z.infer<typeof deidSettingsSchema>;
