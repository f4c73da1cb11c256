import { ERROR_CATALOGUE, type ErrorCode } from './catalogue.js';

/** A typed error with a stable code and a message a user can act on. Never put PHI in message or details. */
export class AnofairError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AnofairError';
    this.code = code;
    this.details = details;
  }

  get httpStatus(): number {
    return ERROR_CATALOGUE[this.code].http;
  }
}

export function isAnofairError(err: unknown): err is AnofairError {
  return err instanceof AnofairError;
}

/** The one-line form the CLI prints: no stack, no PHI. */
export function describeError(err: unknown): string {
  if (isAnofairError(err)) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return `INTERNAL: ${err.message}`;
  return `INTERNAL: ${String(err)}`;
}

/** Context for the gateway's own log only (an upstream address, say): never serialised into an answer. */
const LOG_ONLY = Symbol('log-only context');

export function withLogContext<E extends AnofairError>(err: E, context: Record<string, string>): E {
  Object.defineProperty(err, LOG_ONLY, { value: context, enumerable: false });
  return err;
}

export function logContextOf(err: AnofairError): Record<string, string> {
  return (err as unknown as Record<symbol, Record<string, string> | undefined>)[LOG_ONLY] ?? {};
}
