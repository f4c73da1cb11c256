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
    /**
     * The worker threads that de-identify and run the pixel step, off the gateway's event loop (also used by
     * `anofair deidentify`). Each worker loads its own copy of the pixel models: on a GPU host, one per GPU.
     */
    workers: z
      .object({
        /** default: cores - 1, at least 1 */
        threads: z.number().int().min(1).max(256).optional(),
        /** longest one instance may take before it is quarantined and its worker replaced, ms (default 300000) */
        taskTimeoutMs: z.number().int().min(1000).max(24 * 3600_000).optional(),
        /** V8 heap limit per worker, MiB (default: Node's) */
        maxHeapMb: z.number().int().min(64).optional(),
        /**
         * Nice value of the worker threads (Linux applies it per thread): 19, the gateway's default, gives research
         * work only the CPU the clinical path leaves; `anofair deidentify` runs at 0 unless set.
         */
        nice: z.number().int().min(0).max(19).optional(),
      })
      .strict()
      .default({}),
    /** CXR-AnoFAIR pixel anonymization: used by rules with pixels: cxr-anofair and by anofair deidentify --pixels. */
    pixels: z
      .object({
        /** Folder with detector/ and inpaint/ (default: the shipped demo models, synthetic data only). */
        models: z.string().min(1).optional(),
        /** Sampler steps (default 20) and classifier-free guidance (default 7.5), as the method. */
        steps: z.number().int().min(1).max(200).optional(),
        guidanceScale: z.number().min(1).max(30).optional(),
        /** Lowest detector score of a burned-in text box, which is regenerated (default 0.25; lower is safer). */
        confidence: z.number().gt(0).lt(1).optional(),
        /** Lowest score of a disease region kept pixel-exact (default: the detector manifest's per class, else 0.5). */
        keepConfidence: z.number().gt(0).lt(1).optional(),
        /** Largest share of the image one kept box may cover (larger: shrunk around its centre; default 0.12). */
        maxKeptBoxFraction: z.number().gt(0).max(1).optional(),
        /** Largest share of the image all kept boxes may cover (the least confident beyond it are regenerated; default 0.2; 0: keep nothing, regenerate every image whole). */
        maxKeptFraction: z.number().min(0).max(1).optional(),
        /** Margin around each kept box, as a fraction of the image's width and height (default 1/32, the method's; 0: the detector's box). */
        keepMargin: z.number().min(0).max(0.25).optional(),
        /** The findings whose pixels may be kept (default: all); the others are named in the prompt and drawn, never copied. */
        keepFindings: z.array(z.string().min(1)).optional(),
        /** The ONNX sessions: execution providers in order of preference, GPU requirement, threads (docs/GPU.md). */
        runtime: z
          .object({
            /** default [cpu]; [cuda, cpu] on a GPU host (falls back to cpu, and says so, when CUDA does not load) */
            executionProviders: z.array(z.enum(['cuda', 'cpu'])).min(1).optional(),
            /** refuse to start when no GPU can be used */
            requireGpu: z.boolean().optional(),
            /** onnxruntime threads per session and worker (default 1: the workers are the parallelism) */
            intraOpNumThreads: z.number().int().min(1).max(256).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type DeidSettings = z.infer<typeof deidSettingsSchema>;
