/**
 * Files in the visit chat through the gateway, against the real services on a real nats-server, with plain HTTP
 * (fetch) and a raw WebSocket: the patient shares a PDF, the clinician's open chat gets the message pushed, both
 * download it (attachment, nosniff, the type found from the bytes, PhiAccessed before the bytes); the bytes are
 * stored only encrypted and the name only sealed. Attacks: HTML declared as a PNG, a file over the clinic's limit
 * (refused by the session service, and by the gateway before it reads a bigger body), a JSON body, no CSRF
 * header, another clinician's upload and download (refused and recorded as AccessRefused).
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { eventually, readEventLog } from '@haven/testing';
import type { CookieJar } from '../test/gateway';
import { admitPatient, waitingPatient } from '../test/gateway';
import { startClinic } from '../test/stack';
import type { TestStack } from '../test/stack';

jest.setTimeout(120_000);

const SESSION_LIMIT = 2 * 1024 * 1024;
const GATEWAY_LIMIT = 3 * 1024 * 1024;
const CANARY = 'canary-okapi-9183';

let stack: TestStack;
let nc: NatsConnection;
let clinician: string;

beforeAll(async () => {
  ({ stack, nc, clinician } = await startClinic('files.test', {
    sessionEnv: { HAVEN_CHAT_FILE_MAX_BYTES: String(SESSION_LIMIT) },
    gateway: { chatFileMaxBytes: GATEWAY_LIMIT },
  }));
});
afterAll(async () => {
  await nc?.close();
  await stack?.stop();
});

/** A PDF of `size` bytes whose body repeats the canary (so a plaintext copy anywhere would show). */
function pdf(size: number): Buffer {
  const head = Buffer.from(`%PDF-1.7\n% ${CANARY}\n`, 'latin1');
  const body = Buffer.alloc(Math.max(0, size - head.length), `${CANARY} `);
  return Buffer.concat([head, body]);
}

function upload(
  jar: CookieJar,
  path: string,
  content: Buffer,
  options: { name?: string; type?: string; csrf?: boolean } = {},
) {
  const headers: Record<string, string> = {
    'content-type': options.type ?? 'application/octet-stream',
    'x-file-name': encodeURIComponent(options.name ?? `Résultats ${CANARY}.pdf`),
  };
  const csrf = jar.cookies.get('haven_csrf');
  if (options.csrf !== false && csrf) headers['x-csrf-token'] = csrf;
  return jar.fetch(`${stack.url}${path}`, { method: 'POST', headers, body: new Uint8Array(content) });
}

interface FileMessage {
  id: string;
  senderRole: string;
  text: string;
  file?: { id: string; name: string; mediaType: string; sizeBytes: number };
}

describe('files in the visit chat', () => {
  let cara: CookieJar;
  let bo: CookieJar;
  let patient: CookieJar;
  let visitId: string;
  const content = pdf(600 * 1024);
  let fileId = '';

  beforeAll(async () => {
    const desk = await stack.signIn('desk@files.test');
    cara = await stack.signIn('cara@files.test');
    bo = await stack.signIn('bo@files.test');
    const waiting = await waitingPatient(stack.url, desk, clinician, {
      name: 'Ana Ruiz',
      dateOfBirth: '1985-02-03',
    });
    visitId = waiting.visit.visitId;
    patient = waiting.patient;
    await admitPatient(stack.url, cara, visitId);
  });

  it('shares the patient’s PDF, pushes it to the clinician’s open chat, and lets both download it', async () => {
    const staff = await stack.liveSocket(cara, false);
    staff.ws.send(JSON.stringify({ type: 'chat-open', visitId }));
    await staff.waitFor((m) => m['type'] === 'chat' && m['visitId'] === visitId);

    const res = await upload(patient, '/api/patient/chat/files', content);
    expect(res.status).toBe(201);
    const { message } = (await res.json()) as { message: FileMessage };
    expect(message).toMatchObject({
      senderRole: 'patient',
      text: '',
      file: { name: `Résultats ${CANARY}.pdf`, mediaType: 'application/pdf', sizeBytes: content.length },
    });
    fileId = message.file?.id ?? '';

    const pushed = await staff.waitFor(
      (m) => m['type'] === 'chat' && (m['messages'] as FileMessage[]).some((c) => c.file?.id === fileId),
    );
    expect((pushed['messages'] as FileMessage[]).find((c) => c.file)?.file?.name).toBe(
      `Résultats ${CANARY}.pdf`,
    );

    for (const [jar, path] of [
      [cara, `/api/visits/${visitId}/chat/files/${fileId}`],
      [patient, `/api/patient/chat/files/${fileId}`],
    ] as const) {
      const got = await jar.fetch(`${stack.url}${path}`);
      expect(got.status).toBe(200);
      expect(got.headers.get('content-type')).toBe('application/pdf');
      expect(got.headers.get('x-content-type-options')).toBe('nosniff');
      expect(got.headers.get('content-disposition')).toMatch(
        /^attachment; filename="R_sultats .*"; filename\*=UTF-8''R%C3%A9sultats/,
      );
      expect(Buffer.from(await got.arrayBuffer()).equals(content)).toBe(true);
    }
  });

  it('goes by the bytes, not the declared type: HTML sent as an image is refused', async () => {
    const html = Buffer.from('<!doctype html><script>alert(document.cookie)</script>');
    const res = await upload(cara, `/api/visits/${visitId}/chat/files`, html, {
      name: 'x.png',
      type: 'application/octet-stream',
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toMatch(/PNG, JPEG or WebP image or a PDF/);
    const asImage = await upload(cara, `/api/visits/${visitId}/chat/files`, html, {
      name: 'x.png',
      type: 'image/png',
    });
    expect(asImage.status).toBe(415);
  });

  it('refuses a file over the clinic’s limit in the session service, and a bigger body at the gateway', async () => {
    const over = await upload(cara, `/api/visits/${visitId}/chat/files`, pdf(SESSION_LIMIT + 1));
    expect(over.status).toBe(400);
    expect(JSON.stringify(await over.json())).toMatch(new RegExp(`at most ${SESSION_LIMIT} bytes`));
    const huge = await upload(cara, `/api/visits/${visitId}/chat/files`, pdf(GATEWAY_LIMIT + 1));
    expect(huge.status).toBe(413);
  });

  it('refuses an upload without the CSRF header', async () => {
    const res = await upload(cara, `/api/visits/${visitId}/chat/files`, pdf(1000), { csrf: false });
    expect(res.status).toBe(403);
  });

  it('refuses another clinician’s upload and download, and records the refusals', async () => {
    const up = await upload(bo, `/api/visits/${visitId}/chat/files`, pdf(1000));
    expect(up.status).toBe(403);
    const down = await bo.fetch(`${stack.url}/api/visits/${visitId}/chat/files/${fileId}`);
    expect(down.status).toBe(403);
    expect(down.headers.get('content-disposition')).toBeNull();
    const refusals = await eventually('the AccessRefused events of the chat files', async () => {
      const found = (await readEventLog(nc, { filter: 'haven.es.>' })).filter(
        (e) =>
          e.type === 'haven.security.v1.AccessRefused' &&
          /^\/haven\.session\.v1\.SessionService\/(ShareChatFile|ReadChatFile)$/.test(
            String(e.data['method']),
          ),
      );
      return found.length >= 2 ? found : undefined;
    });
    expect(new Set(refusals.map((e) => e.data['method']))).toEqual(
      new Set([
        '/haven.session.v1.SessionService/ShareChatFile',
        '/haven.session.v1.SessionService/ReadChatFile',
      ]),
    );
  });

  it('keeps the name only sealed and the bytes only encrypted, and records each download as PhiAccessed', async () => {
    const log = await readEventLog(nc, { filter: 'haven.es.>' });
    const shared = log.filter((e) => e.type === 'haven.session.v1.ChatFileShared');
    expect(shared).toHaveLength(1);
    expect(shared[0]?.phi?.subject).toBeTruthy();
    expect(JSON.stringify(log.map((e) => ({ ...e, phi: undefined })))).not.toContain(CANARY);
    expect(stack.logs.join('\n')).not.toContain(CANARY);

    const reads = log.filter(
      (e) =>
        e.type === 'haven.events.v1.PhiAccessed' &&
        e.stream === `session.chat_access-${visitId}` &&
        e.data['what'] === `visits/${visitId}/files/${fileId}`,
    );
    expect(new Set(reads.map((e) => e.actor.kind))).toEqual(new Set(['user', 'patient']));

    expect(stack.sessionDataDir).not.toBe('');
    const stored = await fs.readFile(
      join(stack.sessionDataDir, 'objects', 'chat-files', visitId, `${fileId}.henc`),
    );
    expect(stored.subarray(0, 8).toString('latin1')).toBe('HAVENENC');
    expect(stored.includes(Buffer.from(CANARY))).toBe(false);
  });

  it('exports the chat into the visit record for a host clinician only, sealed, and reads it back', async () => {
    const staff = await stack.liveSocket(cara, false);
    staff.ws.send(
      JSON.stringify({ type: 'chat-send', visitId, text: `See you next week ${CANARY}`, ref: 't1' }),
    );
    await staff.waitFor((m) => m['type'] === 'chat-sent' && m['ref'] === 't1');

    expect((await bo.post(`${stack.url}/api/visits/${visitId}/chat/transcript`, {})).status).toBe(403);
    expect((await bo.fetch(`${stack.url}/api/visits/${visitId}/chat/transcript`)).status).toBe(403);
    expect((await cara.fetch(`${stack.url}/api/visits/${visitId}/chat/transcript`)).status).toBe(404);

    const res = await cara.post(`${stack.url}/api/visits/${visitId}/chat/transcript`, {});
    expect(res.status).toBe(201);
    const { transcript } = (await res.json()) as {
      transcript: { id: string; text: string; messageCount: number; fileCount: number };
    };
    expect(transcript).toMatchObject({ messageCount: 1, fileCount: 1 });
    expect(transcript.text).toContain(
      `Patient shared a file: Résultats ${CANARY}.pdf (application/pdf, ${content.length} bytes)`,
    );
    expect(transcript.text).toContain(`Clinician: See you next week ${CANARY}`);

    const again = await cara.fetch(`${stack.url}/api/visits/${visitId}/chat/transcript`);
    expect(((await again.json()) as { transcript: { text: string } }).transcript.text).toBe(transcript.text);

    const log = await readEventLog(nc, { filter: 'haven.es.>' });
    const exported = log.filter((e) => e.type === 'haven.session.v1.TranscriptExported');
    expect(exported).toHaveLength(1);
    expect(exported[0]?.phi?.subject).toBeTruthy();
    expect(JSON.stringify(log.map((e) => ({ ...e, phi: undefined })))).not.toContain(CANARY);
    const reads = log.filter(
      (e) =>
        e.type === 'haven.events.v1.PhiAccessed' &&
        e.data['what'] === `visits/${visitId}/transcripts/${transcript.id}`,
    );
    expect(reads).toHaveLength(1);
  });
});
