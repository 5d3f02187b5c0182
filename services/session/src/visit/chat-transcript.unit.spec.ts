import { PermissionError, PreconditionError } from '@haven/errors';
import { given } from '@haven/testing';
import { writeTranscript } from './chat-transcript';
import type { Caller, VisitCommand } from './decide';
import { admitted, arrived, callers, ended, opened, sealedPhi, visitSpec as spec } from './testing';
import { VisitEventType } from './visit';

const { clinician, otherClinician, patient } = callers;
const at = '2026-11-26T10:20:00.000Z';

function exportBy(caller: Caller, participantId: string, messageCount = 2, fileCount = 1): VisitCommand {
  return {
    type: 'ExportChatTranscript',
    data: { caller, participantId, transcriptId: 't-1', messageCount, fileCount, phi: sealedPhi, at },
  };
}

describe('when a host clinician exports the chat of an open visit', () => {
  const history = [opened, arrived, admitted];
  it('records the export with counts only, the transcript sealed', () =>
    expect(given(spec, history).when(exportBy(clinician, 'p-clin')).result()).toEqual([
      {
        type: VisitEventType.TranscriptExported,
        data: {
          visitId: 'apt-1',
          transcriptId: 't-1',
          exportedBy: 'users/clin-1',
          messageCount: 2,
          fileCount: 1,
          exportedAt: at,
        },
        phi: sealedPhi,
      },
    ]));
  it('refuses the admitted patient', () =>
    given(spec, history).when(exportBy(patient, 'p-pat')).thenThrows(PermissionError));
  it('refuses a clinician of another visit', () =>
    given(spec, history).when(exportBy(otherClinician, 'p-x')).thenThrows(PermissionError));
  it('refuses an empty chat', () =>
    given(spec, history)
      .when(exportBy(clinician, 'p-clin', 0, 0))
      .thenThrows(PreconditionError));
});

describe('when the visit has ended', () => {
  it('refuses to export', () =>
    given(spec, [opened, arrived, admitted, ended])
      .when(exportBy(clinician, 'p-clin'))
      .thenThrows(PreconditionError));
});

describe('writeTranscript', () => {
  it('writes one line per message and file, oldest first, later lines of a message indented', () =>
    expect(
      writeTranscript('apt-1', [
        { role: 'clinician', postedAt: '2026-11-26T10:01:00.000Z', text: 'Hello\nHow are you?' },
        {
          role: 'patient',
          postedAt: '2026-11-26T10:02:00.000Z',
          text: '',
          file: { fileName: 'scan.pdf', mediaType: 'application/pdf', sizeBytes: 1234 },
        },
        { role: 'guest', postedAt: '2026-11-26T10:03:00.000Z', text: '<b>ok</b>' },
      ]),
    ).toBe(
      [
        'Chat transcript of visit apt-1',
        '',
        '[2026-11-26T10:01:00.000Z] Clinician: Hello',
        '    How are you?',
        '[2026-11-26T10:02:00.000Z] Patient shared a file: scan.pdf (application/pdf, 1234 bytes)',
        '[2026-11-26T10:03:00.000Z] Guest: <b>ok</b>',
        '',
      ].join('\n'),
    ));
});
