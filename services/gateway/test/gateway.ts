/**
 * Test support: the gateway app listening on 127.0.0.1:<ephemeral> with real gRPC clients pointed at a
 * backend, its log lines captured, and a tiny cookie jar for fetch.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { credentials } from '@grpc/grpc-js';
import { WebSocket } from 'ws';
import { identity, passkeys, scheduling } from '@haven/proto';
import { createLogger, listening } from '@haven/service';
import { eventually, MediaClient } from '@haven/testing';
import type { AccessRefusalRecorder, Logger, TokenVerifier } from '@haven/service';
import { createGatewayApp } from '../src/app';
import type { GatewayAppConfig } from '../src/app';

export const WEB_ROOT = resolve(__dirname, '..', '..', '..', 'web', 'dist');

export interface TestGateway {
  readonly url: string;
  /** Every log line the gateway wrote. */
  readonly logs: string[];
  close(): Promise<void>;
}

/** A debug-level gateway logger whose every line is kept in `logs`. */
export function captureLogs(): { logs: string[]; logger: Logger } {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { logs, logger: createLogger({ service: 'gateway', level: 'debug', destination }) };
}

/** Starts the gateway against gRPC servers at the given addresses. Rejects when it cannot listen. */
export async function startTestGateway(options: {
  identityAddress: string;
  schedulingAddress: string;
  tokenVerifier?: TokenVerifier;
  config?: Partial<GatewayAppConfig>;
  /** Where the gateway records its own refusals. */
  refusals?: AccessRefusalRecorder;
}): Promise<TestGateway> {
  const { logs, logger } = captureLogs();
  const clients = {
    identity: new identity.IdentityServiceClient(options.identityAddress, credentials.createInsecure()),
    passkeys: new passkeys.PasskeyServiceClient(options.identityAddress, credentials.createInsecure()),
    scheduling: new scheduling.SchedulingServiceClient(
      options.schedulingAddress,
      credentials.createInsecure(),
    ),
  };
  const app = createGatewayApp({
    clients,
    logger,
    config: { webRoot: WEB_ROOT, authRateLimit: { limit: 1000, windowMs: 60_000 }, ...options.config },
    ...(options.tokenVerifier ? { tokenVerifier: options.tokenVerifier } : {}),
    ...(options.refusals ? { refusals: options.refusals } : {}),
  });
  const server: Server = createServer(app);
  const port = await listening(server, 0, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${port}`,
    logs,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((res) => server.close(() => res()));
      clients.identity.close();
      clients.passkeys.close();
      clients.scheduling.close();
    },
  };
}

/** A parsed Set-Cookie header. */
export interface SetCookie {
  readonly name: string;
  readonly value: string;
  /** Lower-case attribute names → values ('' for flags). */
  readonly attributes: Readonly<Record<string, string>>;
}

/** Parses one Set-Cookie header. */
export function parseSetCookie(header: string): SetCookie {
  const [pair = '', ...attrs] = header.split(';').map((s) => s.trim());
  const eq = pair.indexOf('=');
  const attributes: Record<string, string> = {};
  for (const a of attrs) {
    const i = a.indexOf('=');
    if (i < 0) attributes[a.toLowerCase()] = '';
    else attributes[a.slice(0, i).toLowerCase()] = a.slice(i + 1);
  }
  return { name: pair.slice(0, eq), value: decodeURIComponent(pair.slice(eq + 1)), attributes };
}

/** Options of {@link CookieJar.post} and {@link CookieJar.put}. */
export interface JsonSendOptions {
  readonly csrf?: boolean;
  readonly headers?: Record<string, string>;
}

/** Keeps cookies across fetch calls (ignores Path and Secure: the tests talk plain http to 127.0.0.1). */
export class CookieJar {
  readonly cookies = new Map<string, string>();
  /** The Set-Cookie headers of the last response, parsed. */
  last: SetCookie[] = [];

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set('cookie', this.header());
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    this.last = res.headers.getSetCookie().map(parseSetCookie);
    for (const c of this.last) {
      const expired =
        c.attributes['max-age'] === '0' ||
        (c.attributes['expires'] !== undefined && Date.parse(c.attributes['expires']) <= Date.now());
      if (expired || c.value === '') this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
    return res;
  }

  /** The `Cookie` header these cookies make. */
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('; ');
  }

  /** POSTs JSON with the CSRF header echoing the CSRF cookie (unless `csrf: false`). */
  post(url: string, body: unknown, options: JsonSendOptions = {}): Promise<Response> {
    return this.send('POST', url, body, options);
  }

  /** PUTs JSON with the CSRF header echoing the CSRF cookie (unless `csrf: false`). */
  put(url: string, body: unknown, options: JsonSendOptions = {}): Promise<Response> {
    return this.send('PUT', url, body, options);
  }

  private send(method: string, url: string, body: unknown, options: JsonSendOptions): Promise<Response> {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
    const csrf = this.cookies.get('haven_csrf');
    if (options.csrf !== false && csrf) headers['x-csrf-token'] = csrf;
    return this.fetch(url, { method, headers, body: JSON.stringify(body) });
  }
}

/** A cookie jar signed in to the gateway at `url` (its first page sets the CSRF cookie). Throws otherwise. */
export async function signedIn(url: string, username: string, password: string): Promise<CookieJar> {
  const jar = new CookieJar();
  const page = await jar.fetch(`${url}/`);
  if (page.status !== 200) throw new Error(`GET / answered ${page.status}`);
  const login = await jar.post(`${url}/api/auth/login`, { username, password });
  if (login.status !== 200) throw new Error(`sign-in of ${username} answered ${login.status}`);
  return jar;
}

/** A visit booked by the front desk in two minutes, and its patient link (the token after `#`, and the passcode). */
export interface BookedVisit {
  readonly visitId: string;
  readonly token: string;
  readonly passcode: string;
}

/**
 * Registers a patient, books them with `clinicianId` from two minutes from now for 30 minutes and issues the
 * link, all as the signed-in front desk `desk`. Throws when a step is not answered with success.
 */
export async function bookVisitWithLink(
  url: string,
  desk: CookieJar,
  clinicianId: string,
  patient: { name: string; dateOfBirth: string },
): Promise<BookedVisit> {
  const created = await desk.post(`${url}/api/patients`, patient);
  const patientId = ((await created.json()) as { patient: { id: string } }).patient.id;
  const booked = await desk.post(`${url}/api/appointments`, {
    clinicianId,
    patientId,
    startTime: new Date(Date.now() + 2 * 60_000).toISOString(),
    endTime: new Date(Date.now() + 32 * 60_000).toISOString(),
  });
  if (booked.status !== 201) throw new Error(`booking answered ${booked.status}`);
  const name = ((await booked.json()) as { appointment: { name: string } }).appointment.name;
  const visitId = name.replace('appointments/', '');
  const issued = await desk.post(`${url}/api/appointments/${visitId}/link`, {});
  const link = (await issued.json()) as { url: string; passcode: string };
  return { visitId, token: link.url.split('#')[1] ?? '', passcode: link.passcode };
}

/** A new browser (cookie jar) that opened the join page and redeemed the link. Throws when it is refused. */
export async function redeemLink(
  url: string,
  visit: Pick<BookedVisit, 'token' | 'passcode'>,
): Promise<CookieJar> {
  const jar = new CookieJar();
  await jar.fetch(`${url}/join`);
  const joined = await jar.post(`${url}/api/join`, { token: visit.token, passcode: visit.passcode });
  if (joined.status !== 200) throw new Error(`redeeming the link answered ${joined.status}`);
  return jar;
}

/** A booked visit and its patient: the link redeemed in a new jar, that patient waiting in the lobby. */
export interface WaitingPatient {
  readonly visit: BookedVisit;
  readonly patient: CookieJar;
}

/**
 * Books a visit as {@link bookVisitWithLink} does, redeems its link in a new browser and puts that patient in
 * the lobby. Throws when a step is not answered with success.
 */
export async function waitingPatient(
  url: string,
  desk: CookieJar,
  clinicianId: string,
  patient: { name: string; dateOfBirth: string },
): Promise<WaitingPatient> {
  const visit = await bookVisitWithLink(url, desk, clinicianId, patient);
  const jar = await redeemLink(url, visit);
  const lobby = await jar.post(`${url}/api/patient/lobby`, {});
  if (lobby.status !== 200) throw new Error(`joining the lobby answered ${lobby.status}`);
  return { visit, patient: jar };
}

/**
 * Admits the patient's device `device` (default 1) into the visit, as the signed-in clinician `host`. Throws
 * when the visit has no such participant or the admission is not answered with success.
 */
export async function admitPatient(url: string, host: CookieJar, visitId: string, device = 1): Promise<void> {
  const detail = (await (await host.fetch(`${url}/api/visits/${visitId}`)).json()) as {
    visit: { participants: { id: string; kind: string; device: number }[] };
  };
  const waiting = detail.visit.participants.find((p) => p.kind === 'patient' && p.device === device);
  if (!waiting) throw new Error(`the visit has no patient device ${device}`);
  const admitted = await host.post(`${url}/api/visits/${visitId}/admit`, { participantId: waiting.id });
  if (admitted.status !== 200) throw new Error(`admitting answered ${admitted.status}`);
}

/** A raw WebSocket on the gateway's live channel, every message it got, and a wait for one. */
export interface LiveSocket {
  readonly ws: WebSocket;
  readonly messages: Array<Record<string, unknown>>;
  /** Resolves with the close code and reason once the socket is closed (by either side). */
  readonly closed: Promise<{ code: number; reason: string }>;
  waitFor(pred: (m: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
}

/**
 * Opens /api/ws at `url` with the jar's cookies and CSRF token (as the patient page when `asPatient`) from
 * `origin` (default the gateway's own); the socket is added to `sockets` for the suite to terminate. Throws
 * `HTTP <status>` when the gateway refuses the upgrade.
 */
export async function liveSocket(
  url: string,
  jar: CookieJar,
  options: { readonly asPatient?: boolean; readonly origin?: string; readonly sockets: WebSocket[] },
): Promise<LiveSocket> {
  const csrf = encodeURIComponent(jar.cookies.get('haven_csrf') ?? '');
  const ws = new WebSocket(
    `${url.replace('http', 'ws')}/api/ws?csrf=${csrf}${options.asPatient ? '&as=patient' : ''}`,
    {
      headers: { cookie: jar.header(), origin: options.origin ?? url },
    },
  );
  options.sockets.push(ws);
  const messages: Array<Record<string, unknown>> = [];
  ws.on('message', (d) =>
    messages.push(JSON.parse((d as Buffer).toString('utf8')) as Record<string, unknown>),
  );
  const closed = new Promise<{ code: number; reason: string }>((res) =>
    ws.once('close', (code, reason) => res({ code, reason: reason.toString() })),
  );
  await new Promise((res, rej) => {
    ws.once('open', res);
    ws.once('unexpected-response', (req, response) => {
      rej(new Error(`HTTP ${response.statusCode}`));
      req.destroy();
    });
    ws.once('error', rej);
  });
  const waitFor = (pred: (m: Record<string, unknown>) => boolean, ms = 8000) =>
    eventually(`a live message; got ${JSON.stringify(messages)}`, () => messages.find(pred), {
      timeoutMs: ms,
    });
  return { ws, messages, closed, waitFor };
}

/** Where a raw websocket opens the gateway's media door as `jar` (its cookies, CSRF token and the gateway's origin). */
export function mediaDoor(
  url: string,
  jar: CookieJar,
  options: { readonly asPatient: boolean },
): { url: string; headers: Record<string, string> } {
  const csrf = encodeURIComponent(jar.cookies.get('haven_csrf') ?? '');
  return {
    url: `${url.replace('http', 'ws')}/api/media?${options.asPatient ? 'as=patient&' : ''}csrf=${csrf}`,
    headers: { cookie: jar.header(), origin: url },
  };
}

/**
 * What creating a Janus session through `door` with `credential` gives: `success`, or `refused: …` when the door
 * refuses the upgrade or Janus the request. Closes what it opened.
 */
export async function mediaSessionOutcome(
  door: { url: string; headers: Record<string, string> },
  credential: string,
): Promise<string> {
  return MediaClient.open(door, credential).then(
    async (c) => {
      const answer = await c.create().catch((e: unknown) => ({ janus: `refused: ${String(e)}` }));
      c.close();
      return answer.janus;
    },
    (e: unknown) => `refused: ${String(e)}`,
  );
}
