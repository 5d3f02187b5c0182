import { screenVideoRoomBody, validJsep, validTrickle, type Injected } from './media-policy';

const inject: Injected = { room: 42, pin: 'room-pin', token: 'room-token', display: 'p0.mac' };

describe('a videoroom join', () => {
  it('as a publisher gets the room, PIN, room token and the server’s display', () => {
    expect(screenVideoRoomBody({ request: 'join', ptype: 'publisher', audio: true }, 'none', inject)).toEqual(
      {
        ok: true,
        request: 'join',
        joins: 'publisher',
        body: {
          request: 'join',
          ptype: 'publisher',
          audio: true,
          room: 42,
          pin: 'room-pin',
          token: 'room-token',
          display: 'p0.mac',
        },
      },
    );
  });
  it('as a subscriber gets the room and PIN, not the token or a display', () => {
    const v = screenVideoRoomBody(
      { request: 'join', ptype: 'subscriber', room: 42, streams: [{ feed: 7 }] },
      'none',
      inject,
    );
    expect(v).toEqual({
      ok: true,
      request: 'join',
      joins: 'subscriber',
      body: { request: 'join', ptype: 'subscriber', streams: [{ feed: 7 }], room: 42, pin: 'room-pin' },
    });
  });
  it.each([
    ['another room', { request: 'join', ptype: 'subscriber', room: 43, streams: [{ feed: 7 }] }],
    ['a display of its own', { request: 'join', ptype: 'publisher', display: 'pclinician' }],
    ['a PIN of its own', { request: 'join', ptype: 'publisher', pin: 'guess' }],
    ['a token of its own', { request: 'join', ptype: 'publisher', token: 'guess' }],
    ['a feed id of its own', { request: 'join', ptype: 'publisher', id: 1 }],
    ['recording', { request: 'join', ptype: 'publisher', record: true, filename: '/etc/x' }],
    ['another ptype', { request: 'join', ptype: 'listener' }],
    ['unknown stream fields', { request: 'join', ptype: 'subscriber', streams: [{ feed: 7, secret: 'x' }] }],
  ])('is refused with %s', (_, body) => {
    expect(screenVideoRoomBody(body, 'none', inject)).toMatchObject({ ok: false, code: 433 });
  });
  it('is refused on a handle that joined already', () => {
    expect(screenVideoRoomBody({ request: 'join', ptype: 'publisher' }, 'publisher', inject)).toMatchObject({
      ok: false,
      code: 425,
    });
  });
});

describe('requests on a joined handle', () => {
  it('lets a publisher publish and configure media, and a subscriber start, pause and switch', () => {
    const cases: Array<[Record<string, unknown>, 'publisher' | 'subscriber']> = [
      [
        { request: 'publish', audio: true, video: true, descriptions: [{ mid: '1', description: 'screen' }] },
        'publisher',
      ],
      [{ request: 'configure', streams: [{ mid: '0', send: false }] }, 'publisher'],
      [{ request: 'unpublish' }, 'publisher'],
      [{ request: 'leave' }, 'publisher'],
      [{ request: 'start', room: 42 }, 'subscriber'],
      [{ request: 'pause' }, 'subscriber'],
      [{ request: 'configure', streams: [{ mid: '0', substream: 1 }] }, 'subscriber'],
      [{ request: 'switch', streams: [{ feed: 9, mid: '0', sub_mid: '0' }] }, 'subscriber'],
      [{ request: 'update', subscribe: [{ feed: 9 }], unsubscribe: [{ feed: 7 }] }, 'subscriber'],
    ];
    for (const [body, role] of cases)
      expect(screenVideoRoomBody(body, role, inject)).toMatchObject({ ok: true });
  });
  it('never lets a client record, rename, or pick a file', () => {
    for (const body of [
      { request: 'configure', record: true },
      { request: 'configure', filename: '../../etc/x' },
      { request: 'configure', display: 'pclinician' },
      { request: 'publish', record: true, filename: '/tmp/x' },
      { request: 'publish', display: 'someone' },
      { request: 'configure', secret: 'guess', record: true },
    ]) {
      expect(screenVideoRoomBody(body, 'publisher', inject)).toMatchObject({ ok: false, code: 433 });
    }
  });
  it.each([
    'create',
    'edit',
    'destroy',
    'kick',
    'moderate',
    'enable_recording',
    'rtp_forward',
    'stop_rtp_forward',
    'listforwarders',
    'allowed',
    'list',
    'listparticipants',
    'exists',
    'joinandconfigure',
    'publish_remotely',
    'add_remote_publisher',
    'constructor',
    '__proto__',
  ])('refuses %s whatever the handle is', (request) => {
    for (const role of ['none', 'publisher', 'subscriber'] as const) {
      expect(screenVideoRoomBody({ request, room: 42 }, role, inject)).toMatchObject({
        ok: false,
        request,
        code: 433,
      });
    }
  });
  it('refuses publisher requests on a subscriber handle and the other way round', () => {
    expect(screenVideoRoomBody({ request: 'publish' }, 'subscriber', inject)).toMatchObject({ ok: false });
    expect(screenVideoRoomBody({ request: 'start' }, 'publisher', inject)).toMatchObject({ ok: false });
    expect(screenVideoRoomBody({ request: 'configure' }, 'none', inject)).toMatchObject({ ok: false });
  });
  it('refuses what is not a request', () => {
    for (const body of [null, 'join', [], { request: 7 }, { request: 'A-B' }]) {
      expect(screenVideoRoomBody(body, 'none', inject)).toMatchObject({ ok: false, request: 'invalid' });
    }
  });
});

describe('jsep and trickle', () => {
  it('accepts offers, answers and candidates of sane size only', () => {
    expect(validJsep({ type: 'offer', sdp: 'v=0' })).toBe(true);
    expect(validJsep({ type: 'answer', sdp: 'v=0', trickle: true })).toBe(true);
    expect(validJsep({ type: 'rollback', sdp: 'v=0' })).toBe(false);
    expect(validJsep({ type: 'offer', sdp: 'x'.repeat(70_000) })).toBe(false);
    expect(validJsep({ type: 'offer', sdp: 'v=0', simulcast: {} })).toBe(false);
    expect(
      validTrickle({ candidate: { candidate: 'candidate:1 1 udp 1 10.0.0.1 9 typ host', sdpMid: '0' } }),
    ).toBe(true);
    expect(validTrickle({ candidate: { completed: true } })).toBe(true);
    expect(validTrickle({ candidates: [{ candidate: 'c', sdpMLineIndex: 0 }] })).toBe(true);
    expect(validTrickle({ candidate: { candidate: 'c', extra: 1 } })).toBe(false);
    expect(validTrickle({})).toBe(false);
  });
});
