/**
 * The visit flow over the services' gRPC APIs, for the in-namespace drivers: front desk registers a (synthetic)
 * patient, books with the clinician, issues the patient link; the patient redeems it and waits in the lobby;
 * the clinician admits, kicks, ends. Plus page helpers for window.HavenVisit (web/src/visit).
 */
import type { Page } from 'playwright-core';
import { session } from '@haven/proto';
import { callUnary, clientCallMetadata } from '@haven/service';
import type { Stack, StackUser } from './stack';
import { bookVisit as book, createPatient, eventually, issueLink, redeemLink } from '@haven/testing';

/** A booked visit with its redeemed patient link. */
export interface BookedVisit {
  readonly appointmentId: string;
  readonly visit: string;
  readonly linkUrl: string;
  readonly passcode: string;
  /** The patient principal's token from RedeemPatientLink. */
  readonly patientToken: string;
}

const md = (token?: string) => clientCallMetadata(token === undefined ? {} : { token });

/** A booked appointment with its patient link, not redeemed yet. */
export interface BookedLink {
  readonly patientId: string;
  readonly appointmentId: string;
  readonly linkUrl: string;
  readonly token: string;
  readonly passcode: string;
}

/** Options of {@link bookLink}. */
export interface BookLinkOptions {
  /** When the appointment starts, minutes from now (default 2). */
  readonly startInMinutes?: number;
  /** How long it lasts, minutes (default 30). */
  readonly durationMinutes?: number;
  /** The (synthetic) patient the front desk registers (default Robin Testpatient). */
  readonly patient?: {
    readonly givenName: string;
    readonly familyName: string;
    readonly dateOfBirth: string;
  };
}

/** Front desk: patient + appointment with the clinician + link. Throws on any refused call. */
export async function bookLink(
  stack: Stack,
  frontDesk: StackUser,
  clinician: StackUser,
  opts: BookLinkOptions = {},
): Promise<BookedLink> {
  const desk = { client: stack.clients.scheduling, metadata: () => md(frontDesk.token) };
  const patient = await createPatient(
    desk,
    opts.patient ?? { givenName: 'Robin', familyName: 'Testpatient', dateOfBirth: '1980-04-12' },
  );
  const booked = await book(desk, {
    patient,
    clinician: `users/${clinician.id}`,
    start: new Date(Date.now() + (opts.startInMinutes ?? 2) * 60_000),
    minutes: opts.durationMinutes,
  });
  const link = await issueLink(desk, booked.name);
  return {
    patientId: patient.replace('patients/', ''),
    appointmentId: booked.name.slice('appointments/'.length),
    linkUrl: link.url,
    token: link.token,
    passcode: link.passcode,
  };
}

/**
 * Front desk: patient + appointment (starting in `startInMinutes`, default 2, lasting `durationMinutes`, default
 * 30) + link; the patient redeems it.
 * Waits until the session service opened the visit. Throws on any refused call.
 */
export async function bookVisit(
  stack: Stack,
  frontDesk: StackUser,
  clinician: StackUser,
  opts: { startInMinutes?: number; durationMinutes?: number } = {},
): Promise<BookedVisit> {
  const link = await bookLink(stack, frontDesk, clinician, opts);
  const { appointmentId } = link;
  const redeemed = await redeemLink(stack.clients.scheduling, link);
  const visit = `visits/${appointmentId}`;
  await eventually(
    'the visit to open',
    async () =>
      (await callUnary(stack.clients.session, 'getVisit', { name: visit }, md(clinician.token))).visit,
  );
  return {
    appointmentId,
    visit,
    linkUrl: link.linkUrl,
    passcode: link.passcode,
    patientToken: redeemed.accessToken,
  };
}

/** The patient joins the lobby; returns the participant's name. */
export async function joinLobby(stack: Stack, v: BookedVisit): Promise<string> {
  const res = await callUnary(
    stack.clients.session,
    'joinLobby',
    session.JoinLobbyRequest.fromPartial({ appointment: `appointments/${v.appointmentId}` }),
    md(v.patientToken),
  );
  const name = res.participant?.name;
  if (!name) throw new Error('joinLobby returned no participant');
  return name;
}

/** JoinMedia for whoever holds `token`. */
export async function joinMedia(
  stack: Stack,
  visit: string,
  token: string,
): Promise<session.JoinMediaResponse> {
  return callUnary(stack.clients.session, 'joinMedia', { visit }, md(token));
}

/** The gateway's media body (its mediaView) from a JoinMedia response. */
export function mediaBody(
  m: session.JoinMediaResponse,
  opts: { patient?: boolean } = {},
): Record<string, unknown> {
  return {
    serverUrl: opts.patient ? `${m.serverUrl}?as=patient` : m.serverUrl,
    mediaCredential: m.mediaCredential,
    participantId: m.participant.split('/').pop() ?? '',
    iceServers: [],
  };
}

export async function admit(stack: Stack, clinician: StackUser, participant: string): Promise<void> {
  await callUnary(
    stack.clients.session,
    'admitParticipant',
    { name: participant, requestId: '' },
    md(clinician.token),
  );
}

export async function kick(stack: Stack, clinician: StackUser, participant: string): Promise<void> {
  await callUnary(
    stack.clients.session,
    'kickParticipant',
    { name: participant, allowRejoin: true, requestId: '' },
    md(clinician.token),
  );
}

export async function endVisit(stack: Stack, clinician: StackUser, visit: string): Promise<void> {
  await callUnary(stack.clients.session, 'endVisit', { name: visit, requestId: '' }, md(clinician.token));
}

/** What window.HavenVisit.stats() returns. */
export interface VisitStats {
  readonly status: string;
  readonly feeds: Array<{
    feed: number;
    description: string;
    framesDecoded: number;
    bytesReceived: number;
    audioPacketsReceived: number;
    audioBytesReceived: number;
  }>;
  readonly totals: {
    framesDecoded: number;
    videoBytesReceived: number;
    audioPacketsReceived: number;
    audioBytesReceived: number;
  };
}

/** window.HavenVisit.state, without functions. */
export interface VisitState {
  readonly status: string;
  readonly errorCode: number | string | null;
  readonly message: string | null;
  readonly publisherId: number | null;
  readonly remoteFeeds: number;
  readonly sharing: boolean;
  /** In the room without publishing: the device has no camera or microphone it may use. */
  readonly receiveOnly: boolean;
}

/**
 * Starts HavenVisit on the page (does not wait for the outcome): in the page's `#visit` element, or, with `box`,
 * in a fresh element of that id put first in the body (replacing an earlier one, as a restart after a refusal).
 */
export async function startVisit(
  page: Page,
  o: { mediaUrl: string; leaveUrl: string; role: 'clinician' | 'patient' },
  box?: string,
): Promise<void> {
  const until = Date.now() + 10_000;
  for (let i = 0; i < 500 && Date.now() < until; i++) {
    if (await page.evaluate<boolean>('!!window.HavenVisit')) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const where =
    box === undefined
      ? `document.getElementById('visit')`
      : `(() => { const id = ${JSON.stringify(box)}; const old = document.getElementById(id); if (old) old.remove(); ` +
        `const d = document.createElement('div'); d.id = id; document.body.prepend(d); return d; })()`;
  await page.evaluate(`void window.HavenVisit.start(${where}, ${JSON.stringify(o)})`);
}

/** The media and leave routes of a visit for a signed-in staff member, and for the patient's cookie. */
export const staffMedia = (appointmentId: string) =>
  ({
    mediaUrl: `/api/visits/${appointmentId}/media`,
    leaveUrl: `/api/visits/${appointmentId}/leave`,
    role: 'clinician',
  }) as const;
export const PATIENT_MEDIA = {
  mediaUrl: '/api/patient/media',
  leaveUrl: '/api/patient/leave',
  role: 'patient',
} as const;

/**
 * Books a visit starting in two minutes with the stack's clinician, brings the patient into the lobby and admits
 * them over gRPC: what every driver that is about the video (not the booking) needs first.
 */
export async function bookAdmittedVisit(
  stack: Stack,
): Promise<{ visit: BookedVisit; frontDesk: StackUser; clinician: StackUser }> {
  const [frontDesk, clinician] = await Promise.all([stack.login('front_desk'), stack.login('clinician')]);
  const visit = await bookVisit(stack, frontDesk, clinician, { startInMinutes: 2, durationMinutes: 30 });
  await admit(stack, clinician, await joinLobby(stack, visit));
  return { visit, frontDesk, clinician };
}

export function visitState(page: Page): Promise<VisitState> {
  return page.evaluate<VisitState>('JSON.parse(JSON.stringify(window.HavenVisit.state))');
}

export function visitStats(page: Page): Promise<VisitStats> {
  return page.evaluate<VisitStats>('window.HavenVisit.stats()');
}

/**
 * Waits (bounded) until HavenVisit.state matches a JS predicate over `s` (polled from node: the page's CSP
 * forbids the eval that page.waitForFunction needs). Throws with the state on timeout.
 */
export async function waitForVisitState(page: Page, pred: string, timeoutMs = 15_000): Promise<VisitState> {
  const expr = `(() => { const s = window.HavenVisit && window.HavenVisit.state; return !!s && (${pred}); })()`;
  const until = Date.now() + timeoutMs;
  for (let i = 0; i < 5000 && Date.now() < until; i++) {
    if (await page.evaluate<boolean>(expr)) return visitState(page);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`visit state never matched ${pred}: ${JSON.stringify(await visitState(page))}`);
}

/** Polls stats (bounded) until `pred(stats)` holds. Throws with the last stats on timeout. */
export async function waitForStats(
  page: Page,
  pred: (s: VisitStats) => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<VisitStats> {
  let last: VisitStats | undefined;
  const until = Date.now() + timeoutMs;
  for (let i = 0; i < 1000 && Date.now() < until; i++) {
    last = await visitStats(page);
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: never happened; last stats ${JSON.stringify(last)}`);
}

/** Inbound RTP summed over every peer connection a page ever made, and how many it made. */
export interface PageInbound {
  readonly bytes: number;
  readonly packets: number;
  readonly framesDecoded: number;
  readonly pcs: number;
}

/** The page's {@link PageInbound} (see TRACK_PEER_CONNECTIONS). */
export function pageInbound(page: Page): Promise<PageInbound> {
  return page.evaluate('window.__havenInbound()');
}
