import { recording } from '@haven/proto';
import { recordingListView } from './recordings';

const base = {
  name: 'recordings/rec-1',
  visit: 'visits/v1',
  startTime: new Date('2026-12-06T10:00:00.000Z'),
};

describe('a recording as the browser sees it', () => {
  it('carries the processing percent of a finishing recording', () => {
    const view = recordingListView(
      recording.Recording.fromPartial({
        ...base,
        state: recording.RecordingState.RECORDING_STATE_PROCESSING,
        progressPercent: 40,
      }),
    );
    expect(view).toMatchObject({
      id: 'rec-1',
      visitId: 'v1',
      state: 'processing',
      percent: 40,
      partial: false,
    });
  });

  it('says a recording is partial when the media server stopped during it', () => {
    const view = recordingListView(
      recording.Recording.fromPartial({
        ...base,
        state: recording.RecordingState.RECORDING_STATE_AVAILABLE,
        duration: { seconds: '187', nanos: 400_000_000 },
        partial: true,
      }),
    );
    expect(view).toMatchObject({ state: 'available', durationSeconds: 187, partial: true, percent: 0 });
  });
});
