/* global Janus */
// Test page logic for room.html. Everything the driver needs is in window.havenRoom:
//   status: 'loading' | 'joining' | 'joined' | 'publishing' | 'live' (publisher PeerConnection up) | 'subscribed' | 'error'
//   errorCode / error, publisherId, joinSentAt (performance.now()), firstFrameAt, firstFrameMs
//   framesDecoded() -> Promise<number>  (inbound-rtp video framesDecoded, subscriber only)
(function () {
  'use strict';
  const q = new URLSearchParams(location.search);
  const role = q.get('role') || 'publisher';
  const state = (window.havenRoom = {
    role,
    status: 'loading',
    error: null,
    errorCode: null,
    publisherId: null,
    joinSentAt: null,
    firstFrameAt: null,
    firstFrameMs: null,
    framesDecoded: async () => 0,
  });
  document.getElementById('role').textContent = role;
  const setStatus = (s) => {
    state.status = s;
    document.getElementById('status').textContent = s;
  };
  const fail = (code, err) => {
    state.errorCode = code;
    state.error = typeof err === 'string' ? err : JSON.stringify(err);
    setStatus('error');
  };

  const room = q.get('roomString') === '1' ? q.get('room') : Number(q.get('room'));
  const join = {
    request: 'join',
    room,
    pin: q.get('pin') || undefined,
    token: q.get('roomToken') || undefined,
    display: q.get('display') || role,
  };

  // janus.js only reads adapter.browserDetails; a stub avoids shipping webrtc-adapter.
  const adapter = { browserDetails: { browser: 'chrome', version: 120 } };
  Janus.init({
    debug: q.get('debug') === '1' ? 'all' : false,
    dependencies: Janus.useDefaultDependencies({ adapter }),
    callback: start,
  });

  function start() {
    const janus = new Janus({
      server: q.get('server'),
      token: q.get('token') || undefined,
      success: () => attach(janus),
      error: (e) => fail('session', e),
    });
  }

  function attach(janus) {
    let handle;
    janus.attach({
      plugin: 'janus.plugin.videoroom',
      success: (h) => {
        handle = h;
        setStatus('joining');
        const body =
          role === 'publisher'
            ? { ...join, ptype: 'publisher' }
            : { ...join, ptype: 'subscriber', streams: [{ feed: Number(q.get('feed')) || q.get('feed') }] };
        state.joinSentAt = performance.now();
        handle.send({ message: body, error: (e) => fail('send', e) });
      },
      error: (e) => fail('attach', e),
      onmessage: (msg, jsep) => {
        if (msg.error_code || msg.error) {
          fail(msg.error_code || 'plugin', msg.error || msg);
          return;
        }
        const ev = msg.videoroom;
        if (ev === 'joined' && role === 'publisher') {
          state.publisherId = msg.id;
          setStatus('joined');
          handle.createOffer({
            tracks: [
              { type: 'audio', capture: true, recv: false },
              { type: 'video', capture: true, recv: false },
            ],
            success: (offer) =>
              handle.send({ message: { request: 'publish', audio: true, video: true }, jsep: offer }),
            error: (e) => fail('offer', e),
          });
        }
        if (ev === 'attached' && role === 'subscriber' && jsep) {
          handle.createAnswer({
            jsep,
            tracks: [{ type: 'data' }],
            success: (answer) => handle.send({ message: { request: 'start', room }, jsep: answer }),
            error: (e) => fail('answer', e),
          });
          watchFrames(handle);
        }
        if (jsep && role === 'publisher') {
          handle.handleRemoteJsep({ jsep });
          if (state.status !== 'live') setStatus('publishing');
        }
      },
      webrtcState: (on) => {
        if (on && role === 'publisher') setStatus('live');
      },
      onlocaltrack: (track, on) => {
        if (role !== 'publisher' || !on || track.kind !== 'video') return;
        document.getElementById('video').srcObject = new MediaStream([track]);
      },
      onremotetrack: (track, mid, on) => {
        if (role !== 'subscriber' || !on || track.kind !== 'video') return;
        document.getElementById('video').srcObject = new MediaStream([track]);
        setStatus('subscribed');
      },
    });
  }

  function watchFrames(handle) {
    const framesDecoded = async () => {
      const pc = handle.webrtcStuff && handle.webrtcStuff.pc;
      if (!pc) return 0;
      const stats = await pc.getStats();
      let frames = 0;
      stats.forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'video') frames += r.framesDecoded || 0;
      });
      return frames;
    };
    state.framesDecoded = framesDecoded;
    const deadline = performance.now() + 30000;
    const poll = async () => {
      if (performance.now() > deadline) return;
      if ((await framesDecoded()) > 0) {
        state.firstFrameAt = performance.now();
        state.firstFrameMs = Math.round(state.firstFrameAt - state.joinSentAt);
        return;
      }
      setTimeout(poll, 10);
    };
    void poll();
  }
})();
