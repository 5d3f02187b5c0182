import { PermissionError, PreconditionError, ResourceExhaustedError, ValidationError } from '@haven/errors';
import { given } from '@haven/testing';
import { chatFileNameViolations, detectChatFileType, type ChatFileType } from './chat-files';
import type { Caller, VisitCommand } from './decide';
import { admitted, arrived, callers, ended, opened, sealedPhi, visitSpec as spec } from './testing';
import { VisitEventType, type VisitEvent } from './visit';

const { clinician, frontDesk, patient } = callers;
const phi = sealedPhi;
const T0 = Date.parse('2026-11-26T10:10:00.000Z');

function share(
  caller: Caller,
  participantId: string,
  options: { fileName?: string; sizeBytes?: number; mediaType?: string; ms?: number; n?: number } = {},
): VisitCommand {
  return {
    type: 'ShareChatFile',
    data: {
      caller,
      participantId,
      messageId: `m-${options.n ?? 1}`,
      fileId: `f-${options.n ?? 1}`,
      fileName: options.fileName ?? 'lab results.pdf',
      mediaType: (options.mediaType ?? 'application/pdf') as ChatFileType,
      sizeBytes: options.sizeBytes ?? 1234,
      maxBytes: 10_000,
      phi,
      at: new Date(T0 + (options.ms ?? 0)).toISOString(),
    },
  };
}

describe('detectChatFileType', () => {
  const bytes = (...b: (number | string)[]) =>
    Buffer.concat(b.map((x) => (typeof x === 'string' ? Buffer.from(x, 'latin1') : Buffer.from([x]))));
  it.each([
    ['a PNG', bytes(0x89, 'PNG\r\n\x1a\n', 'rest'), 'image/png'],
    ['a JPEG', bytes(0xff, 0xd8, 0xff, 0xe0, 'JFIF'), 'image/jpeg'],
    ['a WebP', bytes('RIFF', 0, 0, 0, 0, 'WEBPVP8 '), 'image/webp'],
    ['a PDF', bytes('%PDF-1.7\n'), 'application/pdf'],
  ])('knows %s by its first bytes', (_, content, type) => expect(detectChatFileType(content)).toBe(type));
  it.each([
    ['HTML', bytes('<!doctype html><script>alert(1)</script>')],
    ['SVG', bytes('<svg xmlns="http://www.w3.org/2000/svg"/>')],
    ['an executable', bytes(0x7f, 'ELF')],
    ['a RIFF that is not WebP', bytes('RIFF', 0, 0, 0, 0, 'WAVEfmt ')],
    ['a truncated PNG signature', bytes(0x89, 'PNG')],
    ['nothing', bytes()],
  ])('refuses %s', (_, content) => expect(detectChatFileType(content)).toBeUndefined());
});

describe('chatFileNameViolations', () => {
  it.each(['', '   ', '../etc/passwd', 'a/b.pdf', 'a\\b.pdf', 'x\u0000.pdf', 'x'.repeat(201)])(
    'refuses %j',
    (name) => expect(chatFileNameViolations(name)).not.toEqual([]),
  );
  it('takes an ordinary name with spaces and accents', () =>
    expect(chatFileNameViolations('Résultats labo 2026.pdf')).toEqual([]));
});

describe('when a member shares a file in an open visit', () => {
  const history = [opened, arrived, admitted];
  it('records the file without its name in plain fields', () => {
    const events = given(spec, history).when(share(patient, 'p-pat')).result();
    expect(events).toEqual([
      {
        type: VisitEventType.ChatFileShared,
        data: {
          visitId: 'apt-1',
          participantId: 'p-pat',
          principal: 'patients/pp-1',
          role: 'patient',
          messageId: 'm-1',
          fileId: 'f-1',
          mediaType: 'application/pdf',
          sizeBytes: 1234,
          postedAt: new Date(T0).toISOString(),
        },
        phi,
      },
    ]);
    expect(JSON.stringify(events.map((e) => e.data))).not.toContain('lab results');
  });
  it('refuses a file over the clinic limit', () =>
    given(spec, history)
      .when(share(clinician, 'p-clin', { sizeBytes: 10_001 }))
      .thenThrows(ValidationError));
  it('refuses an empty file', () =>
    given(spec, history)
      .when(share(clinician, 'p-clin', { sizeBytes: 0 }))
      .thenThrows(ValidationError));
  it('refuses a type that is not allowed', () =>
    given(spec, history)
      .when(share(clinician, 'p-clin', { mediaType: 'text/html' }))
      .thenThrows(ValidationError));
  it('refuses a name with a path', () =>
    given(spec, history)
      .when(share(clinician, 'p-clin', { fileName: '../x.pdf' }))
      .thenThrows(ValidationError));
  it('refuses the front desk', () =>
    given(spec, history).when(share(frontDesk, 'p-fd')).thenThrows(PermissionError));
  it('counts files in the chat’s rate limit', () => {
    const shares = Array.from({ length: 8 }, (_, i) => share(patient, 'p-pat', { ms: i * 100, n: i }));
    const events = shares.reduce<VisitEvent[]>((h, c) => [...h, ...given(spec, h).when(c).result()], history);
    given(spec, events)
      .when(share(patient, 'p-pat', { ms: 900, n: 9 }))
      .thenThrows(ResourceExhaustedError);
  });
});

describe('when the visit has ended', () => {
  it('refuses to share', () =>
    given(spec, [opened, arrived, admitted, ended])
      .when(share(clinician, 'p-clin'))
      .thenThrows(PreconditionError));
});
