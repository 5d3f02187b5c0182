/* global Janus */
// The attacker, in a participant's own browser tab (their cookies, the gateway's origin), with the OFFICIAL
// janus.js (Debian's libjs-janus-gateway, served by the gateway at /vendor/janus.js). Evaluated into the page by
// tests/security/support/media-kick-driver.ts; everything is on window.__attacker. It uses only what the
// participant was handed (`held`: the JSON of POST …/media), never anything else:
//   await __attacker.init(held, { role: 'patient' })
//   const s = await __attacker.session()                  // a new Janus session (janus.js `token` = what was held)
//   await __attacker.publish(s.id, { extra })              // a publisher feed from the fake camera
//   await __attacker.subscribe(s.id, feed)                 // a subscriber to someone's feed
//   await __attacker.message(handleId, body)               // any videoroom request on one of those handles
//   await __attacker.frames(handleId)                      // video frames decoded so far on that handle
(function () {
  'use strict';
  const handles = new Map(); // id -> { handle, events: [] }
  const sessions = new Map(); // id -> Janus (janus.js session object)
  let nextSession = 1;
  let held = null;
  let role = 'patient';

  function loadJanus() {
    if (window.Janus) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = '/vendor/janus.js';
      s.onload = () => resolve();
      s.onerror = () => reject(new Error('janus.js did not load'));
      document.head.appendChild(s);
    });
  }

  function csrf() {
    const m = /(?:^|;\s*)haven_csrf=([^;]+)/.exec(document.cookie);
    return m ? decodeURIComponent(m[1]) : '';
  }

  /** The server URL as a browser resolves what it was given: absolute as is, a path on this origin as ws(s). */
  function serverUrl() {
    const u = new URL(held.serverUrl, location.href);
    if (u.protocol === 'http:' || u.protocol === 'https:') {
      u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
      u.searchParams.set('csrf', csrf());
      if (role === 'patient' && !u.searchParams.has('as')) u.searchParams.set('as', 'patient');
    }
    return u.toString();
  }

  /** What a client adds to a join from what it was given (nothing when the server injects it). */
  function joinExtras() {
    const out = {};
    if (Number(held.room) > 0) out.room = Number(held.room);
    if (held.pin) out.pin = held.pin;
    if (held.token) out.token = held.token;
    if (held.displayName) out.display = held.displayName;
    return out;
  }

  function tokenOf() {
    return held.mediaCredential || held.janusToken || undefined;
  }

  async function init(h, opts) {
    held = h;
    role = (opts && opts.role) || 'patient';
    await loadJanus();
    await new Promise((resolve) =>
      Janus.init({
        debug: false,
        dependencies: Janus.useDefaultDependencies({
          adapter: { browserDetails: { browser: 'chrome', version: 120 } },
        }),
        callback: resolve,
      }),
    );
    return { serverUrl: serverUrl(), hasToken: Boolean(tokenOf()) };
  }

  /** A new Janus session; resolves { id, ok, error, lost } (lost: the server closed it later). */
  function session() {
    return new Promise((resolve) => {
      const id = nextSession++;
      const state = { id, ok: false, error: null, lost: false };
      let settled = false;
      const settle = () => {
        if (settled) return;
        settled = true;
        resolve({ ...state });
      };
      const janus = new Janus({
        server: serverUrl(),
        token: tokenOf(),
        iceServers: [],
        success: () => {
          state.ok = true;
          sessions.set(id, { janus, state });
          settle();
        },
        error: (e) => {
          if (settled) state.lost = true;
          state.error = String(e);
          settle();
        },
      });
      setTimeout(() => {
        state.error = state.error || 'timeout';
        settle();
      }, 8000);
    });
  }

  /** Whether a session is still connected (janus.js says so) and whether the server dropped it. */
  function sessionState(id) {
    const s = sessions.get(id);
    return s ? { connected: s.janus.isConnected(), lost: s.state.lost, error: s.state.error } : null;
  }

  /** Attaches a videoroom handle; resolves its id or an error. */
  function attach(sessionId, callbacks) {
    return new Promise((resolve) => {
      const s = sessions.get(sessionId);
      if (!s) {
        resolve({ id: null, error: 'no session' });
        return;
      }
      const entry = { handle: null, events: [], remote: null };
      s.janus.attach({
        plugin: 'janus.plugin.videoroom',
        success: (handle) => {
          entry.handle = handle;
          handles.set(handle.getId(), entry);
          resolve({ id: handle.getId(), error: null });
        },
        error: (e) => resolve({ id: null, error: String(e) }),
        onmessage: (msg, jsep) => {
          entry.events.push(msg);
          if (callbacks && callbacks.onmessage) callbacks.onmessage(entry, msg, jsep);
        },
        webrtcState: (on) => {
          entry.webrtcUp = on;
        },
        onremotetrack: (track, _mid, on) => {
          if (on && track.kind === 'video') entry.remote = track;
        },
      });
    });
  }

  /** Waits (bounded) for the next onmessage event of a handle after `from` events. */
  async function nextEvent(entry, from, timeoutMs) {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (entry.events.length > from) return entry.events[from];
      await new Promise((r) => setTimeout(r, 20));
    }
    return null;
  }

  /** Sends a videoroom request; resolves the first event it causes (or the synchronous answer). */
  async function message(id, body, timeoutMs) {
    const entry = handles.get(id);
    if (!entry) return { error: 'no such handle' };
    const from = entry.events.length;
    const sync = await new Promise((resolve) => {
      setTimeout(() => resolve({ ok: true, data: null }), timeoutMs || 5000);
      entry.handle.send({
        message: body,
        success: (data) => resolve({ ok: true, data: data || null }),
        error: (e) => resolve({ ok: false, error: String(e) }),
      });
    });
    if (!sync.ok) return { error: sync.error };
    if (sync.data) return sync.data;
    return (await nextEvent(entry, from, timeoutMs || 5000)) || { error: 'no answer' };
  }

  /** Joins as a publisher and publishes the fake camera; resolves { id (handle), feed, joined, error }. */
  async function publish(sessionId, extra) {
    const a = await attach(sessionId, {
      onmessage: (entry, _msg, jsep) => {
        if (jsep && entry.handle) entry.handle.handleRemoteJsep({ jsep });
      },
    });
    if (a.id === null) return { id: null, feed: null, error: a.error };
    const entry = handles.get(a.id);
    const joined = await message(a.id, {
      request: 'join',
      ptype: 'publisher',
      ...joinExtras(),
      ...(extra || {}),
    });
    if (joined.videoroom !== 'joined') return { id: a.id, feed: null, error: JSON.stringify(joined) };
    const feed = joined.id;
    const from = entry.events.length;
    const offer = await new Promise((resolve) =>
      entry.handle.createOffer({
        tracks: [{ type: 'video', capture: true, recv: false }],
        success: (jsep) => resolve(jsep),
        error: () => resolve(null),
      }),
    );
    if (!offer) return { id: a.id, feed, error: 'no offer' };
    entry.handle.send({ message: { request: 'publish', video: true, audio: false }, jsep: offer });
    const answer = await nextEvent(entry, from, 8000);
    const until = Date.now() + 8000;
    while (!entry.webrtcUp && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    return { id: a.id, feed, error: entry.webrtcUp ? null : `not up: ${JSON.stringify(answer)}` };
  }

  /** Subscribes to a feed; resolves { id, error } once the subscription is set up (frames are polled apart). */
  async function subscribe(sessionId, feed) {
    const a = await attach(sessionId, {
      onmessage: (entry, msg, jsep) => {
        if (jsep && entry.handle) {
          entry.handle.createAnswer({
            jsep,
            tracks: [{ type: 'data' }],
            success: (ans) => entry.handle.send({ message: { request: 'start' }, jsep: ans }),
            error: () => undefined,
          });
        }
      },
    });
    if (a.id === null) return { id: null, error: a.error };
    const answer = await message(a.id, {
      request: 'join',
      ptype: 'subscriber',
      streams: [{ feed }],
      ...joinExtras(),
    });
    if (answer.error_code || answer.error) return { id: a.id, error: JSON.stringify(answer) };
    return { id: a.id, error: null };
  }

  /** Video frames decoded so far on a handle's peer connection. */
  async function frames(id) {
    const entry = handles.get(id);
    const pc = entry && entry.handle && entry.handle.webrtcStuff && entry.handle.webrtcStuff.pc;
    if (!pc) return 0;
    let n = 0;
    (await pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.framesDecoded || 0;
    });
    return n;
  }

  /** Waits (bounded) until a handle decodes frames; resolves the count (0 when none). */
  async function waitFrames(id, timeoutMs) {
    const until = Date.now() + (timeoutMs || 10000);
    while (Date.now() < until) {
      const n = await frames(id);
      if (n > 0) return n;
      await new Promise((r) => setTimeout(r, 50));
    }
    return 0;
  }

  /** The events a handle received so far (plain JSON). */
  function events(id) {
    const entry = handles.get(id);
    return entry ? entry.events.map((e) => JSON.parse(JSON.stringify(e))) : [];
  }

  window.__attacker = {
    init,
    session,
    sessionState,
    attach,
    publish,
    subscribe,
    message,
    frames,
    waitFrames,
    events,
  };
})();
