// The patient's page: /join#<token> → passcode (→ date of birth) → camera/microphone/connection check →
// waiting room → visit. The link token is read from the URL fragment (never sent in a request line) and removed
// from the address bar at once.
import { ApiError, api } from './api.js';
import { openLive } from './live.js';

const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
};
const STEPS = [
  'loading',
  'step-passcode',
  'step-blocked',
  'step-check',
  'step-waiting',
  'step-visit',
  'step-over',
];
function step(id) {
  for (const s of STEPS) $(s).hidden = s !== id;
  const heading = $(id).querySelector('h1');
  heading?.focus();
}

const token = location.hash.length > 1 ? decodeURIComponent(location.hash.slice(1)) : '';
if (token) history.replaceState(null, '', '/join');

let live = null;
let stream = null;
let audio = null;
let networkOk = false;
let networkWaiters = [];

function blocked(message) {
  $('blocked-message').textContent = message;
  step('step-blocked');
}

function over(message) {
  live?.close();
  stopPreview();
  $('over-message').textContent = message;
  step('step-over');
}

// ---------------------------------------------------------------- passcode

$('passcode-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  for (const box of form.querySelectorAll('.field-error, .form-error')) box.hidden = true;
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  const data = new FormData(form);
  const body = { token, passcode: String(data.get('passcode') ?? '') };
  const dob = String(data.get('dateOfBirth') ?? '');
  if (dob) body.dateOfBirth = dob;
  for (const b of form.querySelectorAll('button')) b.disabled = true;
  try {
    await api('POST', '/api/join', body);
    step('step-check');
  } catch (err) {
    const needsDob = err instanceof ApiError && err.fieldViolations.some((v) => v.field === 'dateOfBirth');
    if (needsDob) {
      $('dob-field').hidden = false;
      const box = $('dateOfBirth-error');
      box.textContent = dob ? 'Please check your date of birth.' : 'Please enter your date of birth.';
      box.hidden = false;
      $('dateOfBirth').setAttribute('aria-invalid', 'true');
      $('dateOfBirth').focus();
    } else if (err instanceof ApiError && err.status === 409) {
      blocked(err.message);
    } else {
      const box = $('passcode-form-error');
      box.textContent = err.message;
      box.hidden = false;
      $('passcode').setAttribute('aria-invalid', 'true');
      $('passcode').value = '';
      $('passcode').focus();
    }
  } finally {
    for (const b of form.querySelectorAll('button')) b.disabled = false;
  }
});

// ---------------------------------------------------------------- self-check

function mark(id, ok, text) {
  const item = $(id);
  item.querySelector('.check-mark').textContent = ok ? '✓' : '✗';
  item.classList.toggle('ok', ok);
  item.classList.toggle('bad', !ok);
  item.querySelector('span:not(.check-mark)').textContent = text;
}

function stopPreview() {
  for (const t of stream?.getTracks() ?? []) t.stop();
  stream = null;
  void audio?.close().catch(() => undefined);
  audio = null;
}

function whenNetwork(timeoutMs) {
  if (networkOk) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    networkWaiters.push(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function startLive() {
  live = openLive({
    as: 'patient',
    onMessage: (m) => {
      if (m.type === 'hello') {
        networkOk = true;
        for (const w of networkWaiters) w();
        networkWaiters = [];
      } else if (m.type === 'admitted') enterVisit();
      else if (m.type === 'denied')
        over('The clinic could not let you in to this visit. Please call the clinic.');
      else if (m.type === 'kicked')
        over('You were removed from the visit. Please call the clinic if this was a mistake.');
      else if (m.type === 'ended') over('Your visit has ended. Thank you.');
      else if (m.type === 'visit') onVisitState(m);
    },
    onSignedOut: () => over('This visit link has expired. Please call the clinic if you still need help.'),
  });
}

$('check-start').addEventListener('click', async () => {
  $('check-start').hidden = true;
  const help = $('check-help');
  help.hidden = true;
  if (!live) startLive();
  let cameraOk = false;
  let micOk = false;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    cameraOk = stream.getVideoTracks().length > 0;
    micOk = stream.getAudioTracks().length > 0;
    $('preview').srcObject = stream;
    if (micOk) {
      audio = new AudioContext();
      const analyser = audio.createAnalyser();
      analyser.fftSize = 512;
      audio.createMediaStreamSource(stream).connect(analyser);
      const samples = new Uint8Array(analyser.fftSize);
      const meter = $('mic-level');
      const tick = () => {
        if (!audio) return;
        analyser.getByteTimeDomainData(samples);
        let peak = 0;
        for (const s of samples) peak = Math.max(peak, Math.abs(s - 128) / 128);
        meter.value = Math.min(1, peak * 2);
        requestAnimationFrame(tick);
      };
      tick();
    }
  } catch {
    help.textContent =
      'Your camera or microphone is blocked. Allow them in your browser settings (the camera icon in the address bar), then press the button again.';
    help.hidden = false;
    $('check-start').hidden = false;
  }
  mark('check-camera', cameraOk, cameraOk ? 'Camera works' : 'Camera not available');
  mark('check-mic', micOk, micOk ? 'Microphone works (speak to see the level)' : 'Microphone not available');
  const netOk = await whenNetwork(8000);
  mark(
    'check-network',
    netOk,
    netOk ? 'Connection works' : 'Cannot connect. Check your internet connection.',
  );
  if (netOk) $('check-continue').hidden = false;
  if (netOk && (!cameraOk || !micOk)) {
    help.textContent = 'You can still go to the waiting room; your clinician may not see or hear you.';
    help.hidden = false;
  }
});

$('check-continue').addEventListener('click', async () => {
  step('step-waiting');
  try {
    await api('POST', '/api/patient/lobby', {});
  } catch (err) {
    if (err instanceof ApiError && (err.status === 409 || err.status === 401)) {
      over(err.status === 401 ? 'This visit link has expired. Please call the clinic.' : err.message);
      return;
    }
    $('waiting-error').textContent = err.message;
    $('waiting-error').hidden = false;
    return;
  }
  // The admission may have happened before the socket heard about it.
  const now = await api('GET', '/api/patient/visit').catch(() => null);
  if (now) onVisitState(now);
});

function onVisitState(v) {
  if (v.status === 'admitted') enterVisit();
  else if (v.status === 'ended') over('Your visit has ended. Thank you.');
  else if (v.status === 'denied')
    over('The clinic could not let you in to this visit. Please call the clinic.');
  else if (v.status === 'kicked')
    over('You were removed from the visit. Please call the clinic if this was a mistake.');
  else if (v.status === 'waiting' && !$('step-waiting').hidden) {
    $('waiting-status').textContent = v.locked
      ? 'Your clinician has paused new arrivals for a moment. Please keep this page open.'
      : 'Please keep this page open. You do not need to do anything.';
  }
}

let inVisit = false;
function enterVisit() {
  if (inVisit) return;
  inVisit = true;
  stopPreview();
  step('step-visit');
  $('visit-status').textContent = 'Your clinician let you in.';
  if (!window.HavenVisit?.start) {
    $('stage-placeholder').hidden = false;
    return;
  }
  window.HavenVisit.start($('visit-stage'), {
    mediaUrl: '/api/patient/media',
    leaveUrl: '/api/patient/leave',
    role: 'patient',
  });
}

// ---------------------------------------------------------------- start

async function start() {
  if (token) {
    step('step-passcode');
    return;
  }
  // A reload: the patient cookie may still be there.
  try {
    const v = await api('GET', '/api/patient/visit');
    if (v.status === 'not_joined' || v.status === 'left') step('step-check');
    else {
      startLive();
      if (v.status === 'waiting') step('step-waiting');
      onVisitState(v);
    }
  } catch {
    blocked('This page needs the link the clinic sent you. Please open that link again.');
  }
}
void start();

// ---------------------------------------------------------------- access log

const ROLE_NAMES = {
  clinician: 'A clinician',
  front_desk: 'The front desk',
  admin: 'An administrator',
  auditor: 'An auditor',
  patient: 'You',
  service_account: 'A hospital system',
};
const RESOURCE_NAMES = {
  patients: 'your details',
  appointments: 'your appointment',
  recordings: 'a recording',
};

$('access-log').addEventListener('toggle', async (event) => {
  if (!event.currentTarget.open) return;
  const status = $('access-log-status');
  const list = $('access-log-list');
  status.textContent = 'Loading…';
  list.replaceChildren();
  try {
    const r = await api('GET', '/api/patient/access-log');
    status.textContent = r.entries.length === 0 ? 'Nobody has opened your details yet.' : '';
    for (const e of r.entries) {
      const when = e.time
        ? new Date(e.time).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })
        : '';
      const role = ROLE_NAMES[e.role] ?? 'Someone';
      const who = e.name ? `${e.name} (${role.replace(/^(A|An|The) /, '').toLowerCase()})` : role;
      const what = RESOURCE_NAMES[e.resource] ?? 'your record';
      const verb = e.outcome === 'granted' ? 'opened' : 'was refused';
      const li = document.createElement('li');
      li.textContent =
        `${when}: ${who} ${verb} ${e.outcome === 'granted' ? what : `access to ${what}`}` +
        ` (${e.purpose}${e.breakGlass ? ', emergency access' : ''}).`;
      list.append(li);
    }
  } catch {
    status.textContent = 'The record of who looked at your details is not available right now.';
  }
});
