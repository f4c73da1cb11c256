import type { Request, Response } from 'express';

/** Who sent a request, for routing rules: the authenticated client name (when set) and the peer address. */
export function senderOf(req: Request, res: Response): { client?: string; address?: string } {
  const client = typeof res.locals.client === 'string' ? res.locals.client : undefined;
  // after the connection closed Node may have detached the socket: no address then
  const raw = req.socket?.remoteAddress;
  const address = raw?.startsWith('::ffff:') ? raw.slice(7) : raw;
  return { ...(client ? { client } : {}), ...(address ? { address } : {}) };
}
