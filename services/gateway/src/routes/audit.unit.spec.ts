import { audit } from '@haven/proto';
import { ledgerEntryView, subjectOfStream } from './audit';

describe('a ledger entry as the auditor sees it', () => {
  it('says who watched which recording', () => {
    const view = ledgerEntryView(
      audit.AuditEvent.fromPartial({
        name: 'auditEvents/e1',
        leafIndex: '7',
        type: 'haven.recording.v1.RecordingViewed',
        stream: 'recording.recording_views-rec-9',
        actor: { id: 'u-42', role: 'clinician' },
        patient: 'patients/p-1',
      }),
    );
    expect(view).toMatchObject({
      id: 'e1',
      type: 'recording.v1.RecordingViewed',
      actor: 'clinician',
      actorId: 'u-42',
      subject: 'recordings/rec-9',
      patientId: 'p-1',
    });
  });

  it('names the resource of the streams it knows, nothing for the others', () => {
    expect(subjectOfStream('recording.recording-rec-1')).toBe('recordings/rec-1');
    expect(subjectOfStream('session.visit-v-1')).toBe('visits/v-1');
    expect(subjectOfStream('scheduling.appointment-a-1')).toBe('appointments/a-1');
    expect(subjectOfStream('identity.user-u-1')).toBe('');
    expect(subjectOfStream('not a stream')).toBe('');
  });
});
