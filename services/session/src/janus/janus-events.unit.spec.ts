import { videoRoomMediaEvents } from './janus-events';

describe('Janus event-handler bodies', () => {
  it('reads joined, leaving and kicked videoroom events from a grouped array', () => {
    const body = [
      { type: 1, event: { name: 'created' }, session_id: 1 },
      {
        type: 64,
        event: {
          plugin: 'janus.plugin.videoroom',
          data: { event: 'joined', room: 42, id: 7, display: 'pabc' },
        },
      },
      { type: 64, event: { plugin: 'janus.plugin.videoroom', data: { event: 'leaving', room: 42, id: 7 } } },
      { type: 64, event: { plugin: 'janus.plugin.videoroom', data: { event: 'kicked', room: 42, id: 8 } } },
      {
        type: 64,
        event: { plugin: 'janus.plugin.videoroom', data: { event: 'published', room: 42, id: 7 } },
      },
      { type: 64, event: { plugin: 'janus.plugin.echotest', data: { event: 'joined', room: 42, id: 7 } } },
    ];
    expect(videoRoomMediaEvents(body)).toEqual([
      { kind: 'joined', room: 42, feedId: 7, display: 'pabc' },
      { kind: 'leaving', room: 42, feedId: 7 },
      { kind: 'kicked', room: 42, feedId: 8 },
    ]);
  });
  it('reads a single event object and ignores junk', () => {
    expect(
      videoRoomMediaEvents({
        type: 64,
        event: { plugin: 'janus.plugin.videoroom', data: { event: 'joined', room: 1, id: 2 } },
      }),
    ).toEqual([{ kind: 'joined', room: 1, feedId: 2 }]);
    expect(videoRoomMediaEvents(null)).toEqual([]);
    expect(
      videoRoomMediaEvents([
        1,
        'x',
        { event: { plugin: 'janus.plugin.videoroom', data: { event: 'joined', room: '1', id: 2 } } },
      ]),
    ).toEqual([]);
  });
});
