// In-visit media: joins the visit's Janus videoroom with janus.js (served by the gateway at /vendor/janus.js),
// publishes camera + microphone, subscribes to every other feed (including a screen share), and renders
// tiles and controls. The page never talks to Janus: janus.js speaks to the gateway's /api/media websocket,
// which leads to the session service's media proxy. The proxy checks the media credential the gateway hands
// out (POST mediaUrl, sent as janus.js's `token`) on every request and adds the room, PIN and the display
// itself; it closes the connection when the participant is removed, the visit ends or they are signed out
// (waiting room and removal enforced by the server, not by this page).
//
//   import './visit.js';
//   await window.HavenVisit.start(container, { mediaUrl, leaveUrl, role: 'clinician' | 'patient' });
//
// For tests: window.HavenVisit.state (status, errorCode, message, …) and window.HavenVisit.stats() (inbound
// RTP per remote feed, from getStats). The staff app asks window.HavenVisit.inConversation() to keep a clinician
// in a live conversation signed in.
import { ApiError, api, csrfToken } from './api.js';

const JANUS_JS = '/vendor/janus.js';
const JOIN_TIMEOUT_MS = 20_000;

/** User-facing messages for Janus and API refusals. */
const MESSAGES = {
  notAdmitted: 'You are not admitted to this visit.',
  ended: 'This visit has ended.',
  kicked: 'You have been removed from the visit.',
  left: 'You left the visit.',
  unreachable: 'Cannot reach the video service. Check your connection and try again.',
  signedOut: 'You were signed out, so your video stopped.',
  camera: 'Your camera or microphone could not be started. Check the browser’s permissions.',
  generic: 'The video could not be started. Please try again.',
};

let janusLoading = null;

/** Loads janus.js once (a classic UMD script that defines window.Janus). Rejects when it cannot load. */
function loadJanus() {
  if (window.Janus) return Promise.resolve(window.Janus);
  if (janusLoading) return janusLoading;
  janusLoading = new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = JANUS_JS;
    script.async = true;
    script.onload = () =>
      window.Janus ? resolve(window.Janus) : reject(new Error('janus.js did not define Janus'));
    script.onerror = () => {
      janusLoading = null;
      reject(new Error('janus.js could not be loaded'));
    };
    document.head.appendChild(script);
  });
  return janusLoading;
}

/** janus.js only reads adapter.browserDetails; this stand-in avoids shipping webrtc-adapter. */
function adapterStandIn() {
  const m = /(Chrome|Chromium|Firefox|Version)\/(\d+)/.exec(navigator.userAgent);
  const browser = /Firefox/.test(navigator.userAgent)
    ? 'firefox'
    : /Safari/.test(navigator.userAgent) && !/Chrom/.test(navigator.userAgent)
      ? 'safari'
      : 'chrome';
  return { browserDetails: { browser, version: m ? Number(m[2]) : 120 } };
}

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = v;
    else if (k === 'class') node.className = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) node.appendChild(c);
  return node;
}

/** Close codes of the media proxy (services/session/src/media/media-access.ts) and what they mean here. */
const CLOSED = { 4401: 'signedOut', 4403: 'kicked', 4408: 'ended', 4410: 'ended' };

/** The media websocket URL: the server URL handed out, resolved against this page, with the CSRF token. */
function mediaSocketUrl(serverUrl) {
  const url = new URL(serverUrl || '/api/media', location.href);
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  }
  url.searchParams.set('csrf', csrfToken());
  return url.toString();
}

function messageForJanusError(code, fallback) {
  if (code === 433 || code === 428) return MESSAGES.notAdmitted; // 433 not in the allowed list, 428 no token
  if (code === 426) return MESSAGES.ended; // no such room
  if (code === 'session' || code === 'attach') return MESSAGES.unreachable;
  return fallback || MESSAGES.generic;
}

function messageForApiError(err) {
  if (!(err instanceof ApiError)) return MESSAGES.generic;
  if (err.status === 403) return MESSAGES.notAdmitted;
  if (err.status === 409 || err.status === 410 || err.status === 404) {
    return /ended|over|cancel/i.test(err.message) ? err.message : MESSAGES.ended;
  }
  if (err.status === 0) return err.message;
  return err.message || MESSAGES.generic;
}

/** Creates the visit controller; one per page. */
function createVisit() {
  const state = {
    status: 'idle', // idle | loading | joining | live | error | kicked | ended | left
    role: null,
    errorCode: null,
    message: null,
    publisherId: null,
    screenPublisherId: null,
    micOn: true,
    cameraOn: true,
    sharing: false,
    remoteFeeds: 0,
    joinSentAt: null,
  };
  let janus = null;
  /** The close code of the media websocket, once the server closed it (see CLOSED). */
  let closeCode = null;
  let publisher = null;
  let screen = null;
  let creds = null;
  let opts = null;
  let ui = null;
  /** feed id -> { handle, tile, video, audio, display, description } */
  const remotes = new Map();
  /** feed id -> inbound RTP bytes at the previous inConversation() */
  const heard = new Map();

  function setStatus(status, message, code) {
    state.status = status;
    if (message !== undefined) state.message = message;
    if (code !== undefined) state.errorCode = code;
    if (!ui) return;
    ui.root.dataset.status = status;
    if (message) {
      ui.message.textContent = message;
      ui.message.hidden = false;
    } else if (status === 'live') {
      ui.message.hidden = true;
    }
    const inRoom = status === 'live' || status === 'joining';
    for (const b of [ui.mic, ui.camera, ui.share]) b.disabled = status !== 'live';
    ui.leave.disabled = !inRoom;
  }

  function fail(code, message) {
    if (['error', 'kicked', 'ended', 'left'].includes(state.status)) return;
    setStatus('error', message, code);
    teardown({ keepMessage: true });
  }

  function render(container) {
    container.textContent = '';
    const message = el('p', { class: 'hv-message', role: 'status', 'aria-live': 'polite', hidden: true });
    const localVideo = el('video', {
      class: 'hv-video',
      autoplay: true,
      playsinline: true,
      muted: true,
      'aria-label': 'Your camera',
    });
    localVideo.muted = true;
    const local = el('figure', { class: 'hv-tile hv-tile-local' }, [
      localVideo,
      el('figcaption', { class: 'hv-label', text: 'You' }),
    ]);
    const tiles = el('div', { class: 'hv-tiles', 'aria-label': 'Video' }, [local]);
    const waiting = el('p', {
      class: 'hv-waiting',
      text:
        state.role === 'patient' ? 'Waiting for your clinician’s video…' : 'Waiting for the patient’s video…',
    });
    const button = (cls, text) =>
      el('button', { type: 'button', class: `button hv-btn ${cls}`, disabled: true, text });
    const mic = button('hv-mic', 'Mute');
    const camera = button('hv-camera', 'Stop camera');
    const share = button('hv-share', 'Share screen');
    const leave = el('button', {
      type: 'button',
      class: 'button hv-btn hv-leave',
      disabled: true,
      text: 'Leave',
    });
    mic.setAttribute('aria-pressed', 'false');
    camera.setAttribute('aria-pressed', 'false');
    share.setAttribute('aria-pressed', 'false');
    const controls = el('div', { class: 'hv-controls', role: 'toolbar', 'aria-label': 'Visit controls' }, [
      mic,
      camera,
      share,
      leave,
    ]);
    const root = el('section', { class: 'haven-visit', 'aria-label': 'Video visit' }, [
      message,
      tiles,
      waiting,
      controls,
    ]);
    container.appendChild(root);
    mic.addEventListener('click', toggleMic);
    camera.addEventListener('click', toggleCamera);
    share.addEventListener('click', () => void toggleShare());
    leave.addEventListener('click', () => void leaveVisit());
    return { root, message, tiles, localVideo, waiting, mic, camera, share, leave };
  }

  function updateWaiting() {
    if (!ui) return;
    ui.waiting.hidden = remotes.size > 0 || state.status !== 'live';
    state.remoteFeeds = remotes.size;
  }

  function remoteLabel(description) {
    const who = state.role === 'patient' ? 'Clinician' : 'Patient';
    return description === 'screen' ? `${who}’s screen` : who;
  }

  function addRemoteTile(feed, description) {
    const video = el('video', { class: 'hv-video', autoplay: true, playsinline: true });
    const audio = el('audio', { autoplay: true });
    const tile = el(
      'figure',
      {
        class: `hv-tile hv-tile-remote${description === 'screen' ? ' hv-tile-screen' : ''}`,
        'data-feed': feed,
      },
      [video, audio, el('figcaption', { class: 'hv-label', text: remoteLabel(description) })],
    );
    ui?.tiles.appendChild(tile);
    return { tile, video, audio };
  }

  function removeRemote(feed) {
    const r = remotes.get(feed);
    if (!r) return;
    remotes.delete(feed);
    try {
      r.handle?.detach();
    } catch {
      /* already gone */
    }
    r.tile?.remove();
    updateWaiting();
  }

  function feedDescription(p) {
    const streams = Array.isArray(p.streams) ? p.streams : [];
    return streams.some((s) => s.description === 'screen') ? 'screen' : 'camera';
  }

  function onPublishers(list) {
    for (const p of list || []) {
      const id = p.id;
      if (id === state.publisherId || id === state.screenPublisherId || remotes.has(id)) continue;
      if (p.dummy) continue;
      subscribe(id, feedDescription(p));
    }
  }

  function subscribe(feed, description) {
    const Janus = window.Janus;
    const entry = { handle: null, ...addRemoteTile(feed, description), description };
    remotes.set(feed, entry);
    updateWaiting();
    janus.attach({
      plugin: 'janus.plugin.videoroom',
      success: (handle) => {
        entry.handle = handle;
        if (!remotes.has(feed)) {
          handle.detach();
          return;
        }
        handle.send({ message: { request: 'join', ptype: 'subscriber', streams: [{ feed }] } });
      },
      error: () => removeRemote(feed),
      onmessage: (msg, jsep) => {
        if (msg.error_code || msg.error) {
          removeRemote(feed);
          return;
        }
        if (jsep && entry.handle) {
          entry.handle.createAnswer({
            jsep,
            tracks: [{ type: 'data' }],
            success: (answer) => entry.handle.send({ message: { request: 'start' }, jsep: answer }),
            error: (e) => Janus.warn?.('answer failed', e),
          });
        }
      },
      onremotetrack: (track, _mid, on) => {
        if (!on) return;
        const target = track.kind === 'video' ? entry.video : entry.audio;
        target.srcObject = new MediaStream([track]);
        target.play?.().catch(() => undefined);
      },
      oncleanup: () => undefined,
    });
  }

  function handlePublisherMessage(msg, jsep) {
    const ev = msg.videoroom;
    if (msg.error_code || msg.error) {
      fail(msg.error_code || 'plugin', messageForJanusError(msg.error_code, msg.error));
      return;
    }
    if (ev === 'joined') {
      state.publisherId = msg.id;
      publisher.createOffer({
        tracks: [
          { type: 'audio', capture: true, recv: false },
          { type: 'video', capture: true, recv: false },
        ],
        success: (offer) =>
          publisher.send({ message: { request: 'publish', audio: true, video: true }, jsep: offer }),
        error: () => fail('media', MESSAGES.camera),
      });
      onPublishers(msg.publishers);
    } else if (ev === 'destroyed') {
      setStatus('ended', MESSAGES.ended);
      teardown({ keepMessage: true });
      return;
    } else if (ev === 'event') {
      if (msg.publishers) onPublishers(msg.publishers);
      if (msg.leaving === 'ok') {
        // We were removed (kicked) from the room.
        setStatus('kicked', MESSAGES.kicked);
        teardown({ keepMessage: true });
        return;
      }
      const gone = msg.unpublished ?? msg.leaving;
      if (gone !== undefined && gone !== 'ok') removeRemote(gone);
      if (msg.kicked !== undefined) removeRemote(msg.kicked);
    }
    if (jsep) publisher.handleRemoteJsep({ jsep });
  }

  function attachPublisher() {
    return new Promise((resolve) => {
      janus.attach({
        plugin: 'janus.plugin.videoroom',
        success: (handle) => {
          publisher = handle;
          setStatus('joining');
          state.joinSentAt = performance.now();
          // The proxy adds the room, its PIN, the room token and this participant's display.
          handle.send({
            message: { request: 'join', ptype: 'publisher' },
            error: (e) => fail('send', messageForJanusError('send', String(e))),
          });
          resolve();
        },
        error: () => {
          fail('attach', MESSAGES.unreachable);
          resolve();
        },
        onmessage: handlePublisherMessage,
        webrtcState: (on) => {
          if (on && state.status === 'joining') setStatus('live', null);
          updateWaiting();
        },
        onlocaltrack: (track, on) => {
          if (!on || track.kind !== 'video' || !ui) return;
          ui.localVideo.srcObject = new MediaStream([track]);
        },
        onremotetrack: () => undefined,
        oncleanup: () => undefined,
      });
    });
  }

  function toggleMic() {
    if (!publisher) return;
    if (publisher.isAudioMuted()) publisher.unmuteAudio();
    else publisher.muteAudio();
    state.micOn = !publisher.isAudioMuted();
    ui.mic.textContent = state.micOn ? 'Mute' : 'Unmute';
    ui.mic.setAttribute('aria-pressed', String(!state.micOn));
  }

  function toggleCamera() {
    if (!publisher) return;
    if (publisher.isVideoMuted()) publisher.unmuteVideo();
    else publisher.muteVideo();
    state.cameraOn = !publisher.isVideoMuted();
    ui.camera.textContent = state.cameraOn ? 'Stop camera' : 'Start camera';
    ui.camera.setAttribute('aria-pressed', String(!state.cameraOn));
    ui.localVideo.closest('.hv-tile')?.classList.toggle('hv-off', !state.cameraOn);
  }

  function stopShare() {
    if (!screen) return;
    try {
      screen.send({ message: { request: 'leave' } });
      screen.hangup();
      screen.detach();
    } catch {
      /* gone */
    }
    screen = null;
    state.screenPublisherId = null;
    state.sharing = false;
    if (ui) {
      ui.share.textContent = 'Share screen';
      ui.share.setAttribute('aria-pressed', 'false');
    }
  }

  /** Publishes the screen as a second feed (the proxy gives it this participant's display; a kick removes it too). */
  function toggleShare() {
    if (state.sharing || screen) {
      stopShare();
      return Promise.resolve(false);
    }
    return new Promise((resolve) => {
      janus.attach({
        plugin: 'janus.plugin.videoroom',
        success: (handle) => {
          screen = handle;
          handle.send({ message: { request: 'join', ptype: 'publisher' } });
        },
        error: () => resolve(false),
        onmessage: (msg, jsep) => {
          if (msg.error_code) {
            stopShare();
            resolve(false);
            return;
          }
          if (msg.videoroom === 'joined') {
            state.screenPublisherId = msg.id;
            screen.createOffer({
              tracks: [{ type: 'screen', capture: true, recv: false }],
              success: (offer) => {
                const mid = /a=mid:(\S+)/.exec(offer.sdp)?.[1];
                screen.send({
                  message: {
                    request: 'publish',
                    audio: false,
                    video: true,
                    ...(mid ? { descriptions: [{ mid, description: 'screen' }] } : {}),
                  },
                  jsep: offer,
                });
              },
              error: () => {
                stopShare();
                resolve(false);
              },
            });
          }
          if (jsep) screen?.handleRemoteJsep({ jsep });
        },
        webrtcState: (on) => {
          if (!on) return;
          state.sharing = true;
          if (ui) {
            ui.share.textContent = 'Stop sharing';
            ui.share.setAttribute('aria-pressed', 'true');
          }
          resolve(true);
        },
        onlocaltrack: (track, on) => {
          // The browser's own "Stop sharing" button ends the track.
          if (on && track.kind === 'video') track.addEventListener('ended', stopShare, { once: true });
        },
        onremotetrack: () => undefined,
      });
    });
  }

  /** When the server closed the media connection on purpose: shows why and tears down. True if it did. */
  function serverClosed() {
    const why = CLOSED[closeCode];
    if (!why) return false;
    if (['kicked', 'ended', 'left'].includes(state.status)) return true;
    setStatus(
      why === 'signedOut' ? 'error' : why,
      MESSAGES[why],
      why === 'signedOut' ? closeCode : undefined,
    );
    teardown({ keepMessage: true });
    return true;
  }

  function teardown({ keepMessage = false } = {}) {
    for (const feed of [...remotes.keys()]) removeRemote(feed);
    stopShare();
    if (publisher) {
      try {
        publisher.hangup();
      } catch {
        /* gone */
      }
      publisher = null;
    }
    if (janus) {
      const j = janus;
      janus = null;
      try {
        j.destroy({ cleanupHandles: true });
      } catch {
        /* gone */
      }
    }
    if (ui) {
      ui.localVideo.srcObject?.getTracks?.().forEach((t) => t.stop());
      ui.localVideo.srcObject = null;
      if (!keepMessage) ui.message.hidden = true;
      updateWaiting();
      for (const b of [ui.mic, ui.camera, ui.share, ui.leave]) b.disabled = true;
    }
  }

  async function leaveVisit() {
    const url = opts?.leaveUrl;
    try {
      publisher?.send({ message: { request: 'leave' } });
    } catch {
      /* gone */
    }
    setStatus('left', MESSAGES.left);
    teardown({ keepMessage: true });
    if (url) await api('POST', url, {}).catch(() => undefined);
  }

  /**
   * Gets media credentials from the gateway and joins the room. Resolves once the join was sent (or refused);
   * watch `state.status` ('live', 'error', …) for the outcome. Never rejects: errors are shown in the page.
   */
  async function start(container, options) {
    if (!container) throw new TypeError('HavenVisit.start needs a container element');
    if (janus) teardown();
    opts = options || {};
    state.role = opts.role === 'patient' ? 'patient' : 'clinician';
    Object.assign(state, {
      errorCode: null,
      message: null,
      publisherId: null,
      screenPublisherId: null,
      micOn: true,
      cameraOn: true,
      sharing: false,
      joinSentAt: null,
    });
    ui = render(container);
    setStatus('loading', 'Connecting to your visit…');
    try {
      creds = await api('POST', opts.mediaUrl, {});
    } catch (err) {
      fail(err instanceof ApiError ? err.status : 'api', messageForApiError(err));
      return;
    }
    let Janus;
    try {
      Janus = await loadJanus();
    } catch {
      fail('janus-js', MESSAGES.unreachable);
      return;
    }
    closeCode = null;
    await new Promise((resolve) =>
      Janus.init({
        debug: false,
        dependencies: {
          ...Janus.useDefaultDependencies({ adapter: adapterStandIn() }),
          // The same WebSocket janus.js would make, remembering why the server closed it.
          newWebSocket: (server, protocol) => {
            const ws = new WebSocket(server, protocol);
            ws.addEventListener('close', (event) => {
              closeCode = event.code;
            });
            return ws;
          },
        },
        callback: resolve,
      }),
    );
    const joinTimer = setTimeout(() => {
      if (state.status === 'loading' || state.status === 'joining') fail('timeout', MESSAGES.unreachable);
    }, JOIN_TIMEOUT_MS);
    await new Promise((resolve) => {
      janus = new Janus({
        server: mediaSocketUrl(creds.serverUrl),
        token: creds.mediaCredential || undefined,
        iceServers: Array.isArray(creds.iceServers) ? creds.iceServers : [],
        success: () => void attachPublisher().then(resolve),
        error: (e) => {
          // The media proxy refuses a credential that is not (or no longer) an admission's: 403.
          if (!serverClosed()) {
            if (/unauthorized/i.test(String(e))) fail(403, MESSAGES.notAdmitted);
            else fail('session', MESSAGES.unreachable);
          }
          resolve();
        },
        destroyed: () => undefined,
      });
    });
    if (state.status !== 'joining' && state.status !== 'live') clearTimeout(joinTimer);
  }

  /**
   * Inbound RTP per remote feed from getStats: video framesDecoded / bytesReceived, audio packetsReceived /
   * bytesReceived, and totals over every feed.
   */
  async function stats() {
    const feeds = [];
    const totals = {
      framesDecoded: 0,
      videoBytesReceived: 0,
      audioPacketsReceived: 0,
      audioBytesReceived: 0,
    };
    for (const [feed, r] of remotes) {
      const pc = r.handle?.webrtcStuff?.pc;
      const entry = {
        feed,
        description: r.description,
        framesDecoded: 0,
        bytesReceived: 0,
        audioPacketsReceived: 0,
        audioBytesReceived: 0,
      };
      if (pc) {
        const report = await pc.getStats();
        report.forEach((s) => {
          if (s.type !== 'inbound-rtp') return;
          if (s.kind === 'video') {
            entry.framesDecoded += s.framesDecoded || 0;
            entry.bytesReceived += s.bytesReceived || 0;
          } else if (s.kind === 'audio') {
            entry.audioPacketsReceived += s.packetsReceived || 0;
            entry.audioBytesReceived += s.bytesReceived || 0;
          }
        });
      }
      totals.framesDecoded += entry.framesDecoded;
      totals.videoBytesReceived += entry.bytesReceived;
      totals.audioPacketsReceived += entry.audioPacketsReceived;
      totals.audioBytesReceived += entry.audioBytesReceived;
      feeds.push(entry);
    }
    return { status: state.status, feeds, totals };
  }

  /**
   * Whether this page is in a live conversation: the video is live and media from at least one other
   * participant's feed arrived since the previous call (a feed that is there but sends nothing does not count;
   * the first call after a feed appears only takes a baseline). Never rejects.
   */
  async function inConversation() {
    for (const feed of [...heard.keys()]) if (!remotes.has(feed)) heard.delete(feed);
    if (state.status !== 'live') {
      heard.clear();
      return false;
    }
    let flowing = false;
    for (const [feed, r] of remotes) {
      const pc = r.handle?.webrtcStuff?.pc;
      if (!pc) continue;
      let bytes = 0;
      try {
        (await pc.getStats()).forEach((s) => {
          if (s.type === 'inbound-rtp') bytes += s.bytesReceived || 0;
        });
      } catch {
        continue; // the connection is closing
      }
      const before = heard.get(feed);
      heard.set(feed, bytes);
      if (before !== undefined && bytes > before) flowing = true;
    }
    return flowing;
  }

  return {
    start,
    stats,
    inConversation,
    state,
    leave: leaveVisit,
    toggleMic,
    toggleCamera,
    toggleShare,
  };
}

window.HavenVisit = createVisit();
