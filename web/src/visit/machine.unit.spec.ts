import {
  MESSAGES,
  eventForApiError,
  eventForCloseCode,
  eventForJanusError,
  initialVisitState,
  transition,
  type VisitEvent,
  type VisitState,
} from './machine';

/** given(past events).when(event).then(state): the machine's own given/when/then (it folds states, not events). */
function given(...past: VisitEvent[]) {
  const state = past.reduce(transition, initialVisitState);
  return {
    when: (event: VisitEvent) => ({
      then: (expected: VisitState) => expect(transition(state, event)).toEqual(expected),
      same: () => expect(transition(state, event)).toBe(state),
    }),
  };
}

const media = { receiveOnly: false, micOn: true, cameraOn: true, sharing: false };
const connect: VisitEvent = { type: 'ConnectRequested' };
const joinSent: VisitEvent = { type: 'JoinSent' };
const connected: VisitEvent = { type: 'MediaConnected' };
const live = [connect, joinSent, connected];

describe('the visit state machine', () => {
  describe('when idle', () => {
    it('starts connecting on request', () => given().when(connect).then({ status: 'connecting' }));
    it('ignores media callbacks', () => given().when(connected).same());
  });

  describe('when connecting', () => {
    it('is joining once the join is sent, with mic and camera on', () =>
      given(connect).when(joinSent).then({ status: 'joining', media }));
    it('fails with the reason when the credential is refused', () =>
      given(connect)
        .when(eventForApiError(403, 'Forbidden'))
        .then({ status: 'failed', message: MESSAGES.notAdmitted, code: 403 }));
    it('ignores a second connect request', () => given(connect).when(connect).same());
  });

  describe('when joining', () => {
    it('goes live when the media connects', () =>
      given(connect, joinSent).when(connected).then({ status: 'live', media }));
    it('goes live receive-only when the devices cannot be started', () =>
      given(connect, joinSent)
        .when({ type: 'DevicesUnavailable' })
        .then({
          status: 'live',
          media: { receiveOnly: true, micOn: false, cameraOn: false, sharing: false },
        }));
    it('fails as not admitted when Janus refuses the join (433)', () =>
      given(connect, joinSent)
        .when(eventForJanusError(433))
        .then({ status: 'failed', message: MESSAGES.notAdmitted, code: 433 }));
    it('has ended when the room is gone (426)', () =>
      given(connect, joinSent)
        .when(eventForJanusError(426))
        .then({ status: 'ended', message: MESSAGES.ended, code: null }));
  });

  describe('when live', () => {
    it('records the mic, camera and screen share switches', () => {
      const state = [
        ...live,
        { type: 'MicToggled', on: false },
        { type: 'CameraToggled', on: false },
        { type: 'ShareChanged', on: true },
      ].reduce<VisitState>((s, e) => transition(s, e as VisitEvent), initialVisitState);
      expect(state).toEqual({
        status: 'live',
        media: { receiveOnly: false, micOn: false, cameraOn: false, sharing: true },
      });
    });
    it('is reconnecting when the connection drops', () =>
      given(...live)
        .when({ type: 'ConnectionLost' })
        .then({ status: 'reconnecting', media, attempt: 0 }));
    it('is removed when the proxy closes with 4403', () =>
      given(...live)
        .when(eventForCloseCode(4403)!)
        .then({ status: 'removed', message: MESSAGES.removed, code: null }));
    it('has ended when the proxy closes with 4408 or 4410', () => {
      for (const code of [4408, 4410])
        given(...live)
          .when(eventForCloseCode(code)!)
          .then({ status: 'ended', message: MESSAGES.ended, code: null });
    });
    it('failed as signed out when the proxy closes with 4401', () =>
      given(...live)
        .when(eventForCloseCode(4401)!)
        .then({ status: 'failed', message: MESSAGES.signedOut, code: 4401 }));
    it('has no event for an ordinary close', () => expect(eventForCloseCode(1006)).toBeNull());
    it('has left when the user leaves', () =>
      given(...live)
        .when({ type: 'LeftVisit' })
        .then({ status: 'left', message: MESSAGES.left, code: null }));
  });

  describe('when reconnecting', () => {
    const dropped: VisitEvent[] = [...live, { type: 'ConnectionLost' }];
    it('counts the attempts', () =>
      given(...dropped)
        .when({ type: 'ReconnectAttempted' })
        .then({ status: 'reconnecting', media, attempt: 1 }));
    it('is live again with the same devices once restored', () =>
      given(...dropped, { type: 'MicToggled', on: false })
        .when({ type: 'ConnectionRestored' })
        .then({ status: 'live', media: { ...media, micOn: false } }));
    it('fails when it gives up', () =>
      given(...dropped)
        .when({ type: 'Failed', code: 'reconnect', message: MESSAGES.unreachable })
        .then({ status: 'failed', message: MESSAGES.unreachable, code: 'reconnect' }));
  });

  describe('when the visit has finished', () => {
    const ended: VisitEvent[] = [...live, { type: 'RoomEnded' }];
    it('keeps the first outcome: a late kick does not replace "ended"', () =>
      given(...ended)
        .when({ type: 'Removed' })
        .same());
    it('ignores late media callbacks', () =>
      given(...ended)
        .when(connected)
        .same());
    it('can be joined again (a new admission)', () =>
      given(...ended)
        .when(connect)
        .then({ status: 'connecting' }));
  });

  describe('API refusals', () => {
    it('a 409 that says why is shown as it is', () =>
      expect(eventForApiError(409, 'The visit was cancelled')).toEqual({
        type: 'Failed',
        code: 409,
        message: 'The visit was cancelled',
      }));
    it('a 404 without a reason is an ended visit', () =>
      expect(eventForApiError(404, 'Not found')).toEqual({ type: 'RoomEnded' }));
  });
});
