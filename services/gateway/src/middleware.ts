/**
 * The gateway's request pipeline pieces that are not routes: security headers, the correlation id with one
 * access-log line per request, the per-client rate limit, no-store on the API, and the last-resort error answer.
 */
import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import helmet from 'helmet';
import type { Logger } from '@haven/service';
import { send } from './http';
import { httpError } from './http-errors';

/**
 * The documents that run a video visit: the staff app (the clinician's visit is a screen of it) and the patient's
 * /join page. Only these may compile WebAssembly ('wasm-unsafe-eval'), for the background blur's segmentation
 * (ADR 0018); it allows WebAssembly compilation, not JavaScript eval. Every other answer keeps script-src 'self'.
 */
export const VISIT_DOCUMENTS: ReadonlySet<string> = new Set(['/', '/index.html', '/join']);

/** script-src for a request: 'self', plus 'wasm-unsafe-eval' on {@link VISIT_DOCUMENTS}. */
export function scriptSrcFor(url: string | undefined): string {
  const path = (url ?? '').split('?')[0] ?? '';
  return VISIT_DOCUMENTS.has(path) ? "'self' 'wasm-unsafe-eval'" : "'self'";
}

/**
 * Helmet with a strict CSP without inline scripts (WebAssembly only on the visit documents), frame-ancestors
 * 'none' and no referrer.
 */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        'script-src': [(req) => scriptSrcFor(req.url)],
        'style-src': ["'self'"],
        'img-src': ["'self'", 'data:'],
        'font-src': ["'self'"],
        // The live channel and the media websocket are the gateway's own (/api/ws, /api/media): browsers
        // never connect anywhere else.
        'connect-src': ["'self'"],
        'media-src': ["'self'", 'blob:'],
        'object-src': ["'none'"],
        'base-uri': ["'none'"],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
      },
    },
    crossOriginEmbedderPolicy: false,
    referrerPolicy: { policy: 'no-referrer' },
  });
}

/** Correlation id and one access-log line per request (method, path, status, time; never bodies or cookies). */
export function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const correlationId = randomUUID();
    res.locals['correlationId'] = correlationId;
    res.setHeader('x-correlation-id', correlationId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      logger.info(
        {
          req: { method: req.method, path: req.originalUrl.split('?')[0] },
          status: res.statusCode,
          ms: Number((process.hrtime.bigint() - started) / 1_000_000n),
          correlationId,
        },
        'http request',
      );
    });
    next();
  };
}

/** `cache-control: no-store` on every answer. */
export function noStore(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('cache-control', 'no-store');
  next();
}

/** A per-client-IP limit of `limit` requests per `windowMs`; over it, 429 with RateLimit headers. */
export function clientRateLimit(options: {
  readonly limit: number;
  readonly windowMs: number;
}): RequestHandler {
  return rateLimit({
    windowMs: options.windowMs,
    limit: options.limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: (_req, res) => send(res, httpError('RESOURCE_EXHAUSTED')),
  });
}

/** Last resort: body-parser errors (bad JSON 400, too large 413) and anything unexpected (500), all generic. */
export function errorAnswer(logger: Logger): ErrorRequestHandler {
  return (err: unknown, _req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const status = (err as { status?: unknown }).status;
    if (status === 413) {
      res.status(413).json({ error: { code: 'PAYLOAD_TOO_LARGE', message: 'The request is too large.' } });
      return;
    }
    if (status === 400) {
      res
        .status(400)
        .json({ error: { code: 'INVALID_ARGUMENT', message: 'The request is not valid JSON.' } });
      return;
    }
    logger.error({ err, correlationId: res.locals['correlationId'] }, 'unhandled error');
    send(res, httpError('INTERNAL'));
  };
}
