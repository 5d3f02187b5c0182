import { ApiError, api, lastRefreshAt, refreshSession } from './api.js';
import { openLive } from './live.js';
import { loadSsoApprovals, renderSsoProviders, takeSsoNotice } from './sso.js';

const ROLE_LABELS = {
  admin: 'administrator',
  clinician: 'clinician',
  front_desk: 'front desk',
  auditor: 'auditor',
};
const FRONT_DESK = new Set(['admin', 'front_desk']);
const AUDIT_READERS = new Set(['admin', 'auditor']);

const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
};
const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
};

function show(node, text) {
  if (text !== undefined) node.textContent = text;
  node.hidden = false;
}
function hide(node) {
  node.hidden = true;
}

/** Clears every error message and aria-invalid flag inside a form. */
function clearErrors(form) {
  for (const box of form.querySelectorAll('.field-error, .form-error, .form-success')) {
    box.textContent = '';
    box.hidden = true;
  }
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
}

/** Shows an API error: field violations next to their fields, anything else in the form-level box. */
function showErrors(form, errorBox, err) {
  const violations = err instanceof ApiError ? err.fieldViolations : [];
  let firstInvalid = null;
  const general = [];
  const byField = new Map();
  for (const v of violations) {
    const list = byField.get(v.field) ?? [];
    list.push(v.description);
    byField.set(v.field, list);
  }
  for (const [field, descriptions] of byField) {
    const input = form?.querySelector(`[name="${CSS.escape(field)}"]`);
    const box = document.getElementById(`${field}-error`);
    if (!input || !box) {
      general.push(...descriptions);
      continue;
    }
    const label = form.querySelector(`label[for="${CSS.escape(field)}"]`);
    const name = label ? label.firstChild.textContent.trim() : field;
    show(box, `${name} ${[...new Set(descriptions)].join('; ')}.`);
    input.setAttribute('aria-invalid', 'true');
    firstInvalid ??= input;
  }
  if (violations.length === 0 || general.length > 0) {
    show(errorBox, violations.length === 0 ? err.message : `${general.join('; ')}.`);
  } else {
    show(errorBox, 'Please correct the highlighted fields.');
  }
  (firstInvalid ?? errorBox).focus?.();
}

function busy(form, on) {
  for (const b of form.querySelectorAll('button')) b.disabled = on;
  form.setAttribute('aria-busy', on ? 'true' : 'false');
}

function greeting() {
  const h = new Date().getHours();
  return h < 12 ? 'Good morning' : h < 18 ? 'Good afternoon' : 'Good evening';
}

const pad = (n) => String(n).padStart(2, '0');
const localDay = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
const localInput = (d) => `${localDay(d)}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
const timeOf = (iso) =>
  iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '';
const timeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

const state = {
  me: null,
  live: null,
  stopConversationPulse: null, // stops the clinician's keep-alive during a live conversation
  clinicians: new Map(),
  patients: new Map(),
  visits: new Map(),
  current: null, // the open visit's id
  onVideo: null, // the visit the clinician's camera is in
  patientName: null, // the open visit's patient, read for treatment when the visit opens
};

// ---------------------------------------------------------------- screens

const SCREENS = ['loading', 'sign-in', 'enroll', 'home'];
function screen(id) {
  for (const s of SCREENS) $(s).hidden = s !== id;
  $('sign-out').hidden = id === 'sign-in' || id === 'loading';
}

function showSignIn(notice) {
  document.body.classList.remove('in-visit');
  state.live?.close();
  state.live = null;
  state.stopConversationPulse?.();
  state.stopConversationPulse = null;
  screen('sign-in');
  const box = $('sign-in-notice');
  if (notice) show(box, notice);
  else hide(box);
  $('username').focus();
  void renderSsoProviders($('sso'), $('sso-providers'));
}

async function showHome(me, notice) {
  state.me = me;
  screen('home');
  $('home-title').textContent = `${greeting()}.`;
  $('home-role').textContent = `You are signed in as ${ROLE_LABELS[me.role] ?? 'member of staff'}.`;
  const noticeBox = $('account-notice');
  if (notice) show(noticeBox, notice);
  else hide(noticeBox);
  $('front-desk').hidden = !FRONT_DESK.has(me.role);
  $('console').hidden = me.role !== 'clinician';
  $('audit').hidden = !AUDIT_READERS.has(me.role);
  $('home-title').setAttribute('tabindex', '-1');
  $('home-title').focus();
  if (FRONT_DESK.has(me.role)) await loadFrontDesk();
  if (me.role === 'clinician') startConsole();
  if (AUDIT_READERS.has(me.role)) await loadLedger(true);
  if (me.role === 'admin')
    await loadSsoApprovals(
      $('sso-approvals'),
      $('sso-approvals-list'),
      $('sso-approvals-empty'),
      $('sso-approvals-error'),
    );
  else hide($('sso-approvals'));
}

async function loadSession() {
  const ssoNotice = takeSsoNotice();
  try {
    const me = await api('GET', '/api/me');
    if (!me.role) await showEnroll();
    else await showHome(me);
  } catch {
    showSignIn(ssoNotice);
  }
}

function signedOut(reason) {
  // Idle logoff: the session ends here too (cookies cleared, identity told), so reloading the unattended page
  // cannot resume it with the refresh cookie.
  if (reason === 'idle') void api('POST', '/api/auth/logout', {}).catch(() => undefined);
  showSignIn(
    reason === 'idle'
      ? 'You were signed out after a period of inactivity. Please sign in again.'
      : 'You were signed out. Please sign in again.',
  );
}

/** Runs an API call; a 401 that survives the refresh means the session is over. */
async function guarded(fn, errorBox) {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      signedOut('revoked');
      return undefined;
    }
    if (errorBox) show(errorBox, err.message);
    return undefined;
  }
}

// ---------------------------------------------------------------- sign-in and TOTP enrollment

$('sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  hide($('sign-in-notice'));
  const data = new FormData(form);
  busy(form, true);
  try {
    const result = await api('POST', '/api/auth/login', {
      username: String(data.get('username') ?? ''),
      password: String(data.get('password') ?? ''),
      totp: String(data.get('totp') ?? ''),
    });
    form.reset();
    if (result.mfaEnrollmentRequired) {
      await showEnroll();
      return;
    }
    const notice = result.passwordChangeRequired
      ? 'Your password has expired. Please ask your administrator to help you set a new one.'
      : '';
    const me = await api('GET', '/api/me').catch(() => ({ role: result.user.role }));
    await showHome(me, notice);
  } catch (err) {
    $('password').value = '';
    showErrors(form, $('sign-in-error'), err);
  } finally {
    busy(form, false);
  }
});

async function showEnroll() {
  screen('enroll');
  hide($('enroll-done'));
  hide($('enroll-setup'));
  hide($('enroll-error'));
  $('enroll-title').focus();
  try {
    const r = await api('POST', '/api/auth/totp/enroll', {});
    $('enroll-qr').src = r.qr;
    $('enroll-secret').textContent = r.secret.replace(/(.{4})/g, '$1 ').trim();
    $('enroll-uri').textContent = r.otpauthUri;
    show($('enroll-setup'));
    $('code').focus();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return signedOut('revoked');
    show($('enroll-error'), err.message);
  }
}

$('enroll-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  hide($('enroll-error'));
  busy(form, true);
  try {
    const r = await api('POST', '/api/auth/totp/confirm', {
      code: String(new FormData(form).get('code') ?? ''),
    });
    form.reset();
    const list = $('recovery-codes');
    list.replaceChildren(...r.recoveryCodes.map((c) => el('li', { text: c })));
    hide($('enroll-setup'));
    show($('enroll-done'));
    $('enroll-finish').focus();
  } catch (err) {
    showErrors(form, $('enroll-error'), err);
  } finally {
    busy(form, false);
  }
});

$('copy-codes').addEventListener('click', () => {
  const codes = [...$('recovery-codes').children].map((li) => li.textContent).join('\n');
  void navigator.clipboard?.writeText(codes).catch(() => undefined);
});

$('enroll-finish').addEventListener('click', async () => {
  $('recovery-codes').replaceChildren();
  await api('POST', '/api/auth/logout', {}).catch(() => undefined);
  showSignIn('Your authenticator app is set up. Sign in again with a code from the app.');
});

$('sign-out').addEventListener('click', async () => {
  state.live?.close();
  state.live = null;
  const out = await api('POST', '/api/auth/logout', {}).catch(() => undefined);
  // Signed in with the organisation's account: its sign-on session ends too (RP-initiated logout).
  if (out?.endSessionUrl) {
    location.assign(out.endSessionUrl);
    return;
  }
  for (const form of document.querySelectorAll('form')) {
    clearErrors(form);
    form.reset();
  }
  showSignIn();
});

// ---------------------------------------------------------------- front desk

function fillSelect(select, entries, placeholder) {
  const current = select.value;
  select.replaceChildren(
    el('option', { value: '', text: placeholder }),
    ...entries.map(([id, label]) => el('option', { value: id, text: label })),
  );
  if (entries.some(([id]) => id === current)) select.value = current;
}

async function loadFrontDesk() {
  if (!$('day').value) $('day').value = localDay(new Date());
  if (!$('startTime').value) {
    const start = new Date(Date.now() + 10 * 60_000);
    start.setSeconds(0, 0);
    $('startTime').value = localInput(start);
    $('endTime').value = localInput(new Date(start.getTime() + 30 * 60_000));
  }
  const [clinicians, patients] = await Promise.all([
    guarded(() => api('GET', '/api/clinicians'), $('book-error')),
    guarded(() => api('GET', '/api/patients?purpose=treatment'), $('book-error')),
  ]);
  if (clinicians) {
    state.clinicians = new Map(clinicians.clinicians.map((c) => [c.id, c.displayName]));
    fillSelect($('clinicianId'), [...state.clinicians], 'Choose a clinician');
  }
  if (patients) {
    state.patients = new Map(patients.patients.map((p) => [p.id, p]));
    fillSelect(
      $('patientId'),
      patients.patients.map((p) => [p.id, `${p.name} (born ${p.dateOfBirth})`]),
      'Choose a patient',
    );
  }
  await loadDay();
}

$('patient-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const data = new FormData(form);
  const body = {
    name: String(data.get('name') ?? ''),
    dateOfBirth: String(data.get('dateOfBirth') ?? ''),
  };
  for (const f of ['email', 'phone']) if (String(data.get(f) ?? '').trim()) body[f] = String(data.get(f));
  busy(form, true);
  try {
    const r = await api('POST', '/api/patients', body);
    state.patients.set(r.patient.id, { id: r.patient.id, name: body.name, dateOfBirth: body.dateOfBirth });
    const select = $('patientId');
    select.append(el('option', { value: r.patient.id, text: `${body.name} (born ${body.dateOfBirth})` }));
    select.value = r.patient.id;
    form.reset();
    show($('patient-success'), `${body.name} was added and is selected for booking below.`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return signedOut('revoked');
    showErrors(form, $('patient-error'), err);
  } finally {
    busy(form, false);
  }
});

$('book-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const data = new FormData(form);
  const when = (name) => {
    const value = String(data.get(name) ?? '');
    const date = value ? new Date(value) : null; // datetime-local is the user's local time
    return date && !Number.isNaN(date.getTime()) ? date.toISOString() : '';
  };
  busy(form, true);
  try {
    const r = await api('POST', '/api/appointments', {
      clinicianId: String(data.get('clinicianId') ?? ''),
      patientId: String(data.get('patientId') ?? ''),
      startTime: when('startTime'),
      endTime: when('endTime'),
    });
    const start = new Date(r.appointment.startTime);
    show($('book-success'), `Appointment booked for ${start.toLocaleString()}.`);
    $('day').value = localDay(start);
    await loadDay();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return signedOut('revoked');
    showErrors(form, $('book-error'), err);
  } finally {
    busy(form, false);
  }
});

$('day').addEventListener('change', () => void loadDay());

const STATE_LABELS = {
  scheduled: 'Scheduled',
  in_progress: 'In progress',
  completed: 'Completed',
  cancelled: 'Cancelled',
  no_show: 'Missed',
};

async function loadDay() {
  hide($('day-error'));
  const day = $('day').value || localDay(new Date());
  const r = await guarded(
    () => api('GET', `/api/appointments?day=${day}&timeZone=${encodeURIComponent(timeZone())}`),
    $('day-error'),
  );
  if (!r) return;
  const list = $('appointments');
  list.replaceChildren(
    ...r.appointments.map((a) => {
      const patient = state.patients.get(a.patientId);
      const open = a.state === 'scheduled' || a.state === 'in_progress';
      return el(
        'li',
        { class: 'row' },
        el(
          'div',
          { class: 'row-main' },
          el('strong', { text: `${timeOf(a.startTime)}–${timeOf(a.endTime)}` }),
          el('span', {
            text: ` ${patient ? patient.name : 'Patient'} with ${state.clinicians.get(a.clinicianId) ?? 'clinician'}`,
          }),
          el('span', { class: `badge badge-${a.state}`, text: STATE_LABELS[a.state] ?? a.state }),
        ),
        open
          ? el(
              'div',
              { class: 'row-actions' },
              el('button', {
                type: 'button',
                class: 'button button-quiet',
                text: 'Patient link',
                'aria-label': `Patient link for ${timeOf(a.startTime)}`,
                onclick: () => void issueLink(a),
              }),
              el('button', {
                type: 'button',
                class: 'button button-quiet',
                text: 'Cancel',
                'aria-label': `Cancel appointment at ${timeOf(a.startTime)}`,
                onclick: () => void cancel(a),
              }),
            )
          : null,
      );
    }),
  );
  $('appointments-empty').hidden = r.appointments.length > 0;
}

async function issueLink(a) {
  hide($('day-error'));
  const r = await guarded(() => api('POST', `/api/appointments/${a.id}/link`, {}), $('day-error'));
  if (!r) return;
  $('link-url').value = r.url;
  $('link-passcode').value = r.passcode;
  $('link-window').textContent =
    r.validFrom && r.validUntil
      ? `The link works from ${new Date(r.validFrom).toLocaleString()} until ${new Date(r.validUntil).toLocaleString()}. Issuing a new link stops this one.`
      : 'Issuing a new link stops this one.';
  $('copy-status').textContent = '';
  show($('link-panel'));
  $('link-panel').focus();
}

async function cancel(a) {
  if (!window.confirm(`Cancel the appointment at ${timeOf(a.startTime)}? The patient link stops working.`))
    return;
  const done = await guarded(
    () => api('POST', `/api/appointments/${a.id}/cancel`, { reason: 'other' }),
    $('day-error'),
  );
  if (done !== undefined) await loadDay();
}

for (const button of document.querySelectorAll('[data-copy]')) {
  button.addEventListener('click', async () => {
    const input = $(button.getAttribute('data-copy'));
    try {
      await navigator.clipboard.writeText(input.value);
      $('copy-status').textContent = 'Copied.';
    } catch {
      input.select();
      $('copy-status').textContent = 'Select and copy it with your keyboard.';
    }
  });
}
$('link-close').addEventListener('click', () => {
  $('link-url').value = '';
  $('link-passcode').value = '';
  hide($('link-panel'));
});

// ---------------------------------------------------------------- clinician console

const STATUS_LABELS = { open: 'Open', in_progress: 'In progress', ended: 'Ended' };

/** How often the conversation pulse samples the call, ms. */
const CONVERSATION_SAMPLE_MS = 1000;
/** The pulse period when the server did not say its idle timeout (short enough for any sane timeout). */
const UNKNOWN_IDLE_PULSE_MS = 60_000;

/**
 * A live conversation is activity: while the clinician's video visit is live and media from another participant
 * keeps arriving (window.HavenVisit.inConversation()), the page tells the gateway's live channel it is active and
 * refreshes the session (identity's idle deadline moves only on a refresh), three times per idle timeout. Alone
 * in the room, or with no video, nothing is sent, so an unattended workstation still signs out. Returns a stop
 * function.
 */
function startConversationPulse(idleTimeoutSec) {
  const periodMs =
    Number.isFinite(idleTimeoutSec) && idleTimeoutSec > 0
      ? Math.max(CONVERSATION_SAMPLE_MS, (idleTimeoutSec * 1000) / 3)
      : UNKNOWN_IDLE_PULSE_MS;
  let lastPulse = 0;
  let sampling = false;
  const timer = setInterval(async () => {
    if (sampling || !window.HavenVisit?.inConversation) return;
    sampling = true;
    try {
      if (!(await window.HavenVisit.inConversation())) return;
      // Half a sample of slack, so that the pulse keeps its period instead of slipping to the next sample.
      const due = periodMs - CONVERSATION_SAMPLE_MS / 2;
      if (Date.now() - lastPulse < due) return;
      lastPulse = Date.now();
      state.live?.activity();
      // Unless the page refreshed lately anyway (an expired token); a refused refresh means the session is over,
      // and the live channel reports the sign-out.
      if (Date.now() - lastRefreshAt() >= due) await refreshSession().catch(() => undefined);
    } finally {
      sampling = false;
    }
  }, CONVERSATION_SAMPLE_MS);
  return () => clearInterval(timer);
}

function startConsole() {
  void loadVisits();
  state.live?.close();
  state.stopConversationPulse?.();
  state.stopConversationPulse = startConversationPulse(state.me?.idleTimeoutSec);
  state.live = openLive({
    refresh: async () => {
      try {
        await refreshSession();
        return true;
      } catch {
        return false;
      }
    },
    onStatus: (s) => {
      $('live-status').textContent =
        s === 'open'
          ? 'Live updates on.'
          : s === 'failed'
            ? 'Live updates are off. Reload the page.'
            : 'Connecting…';
    },
    onSignedOut: signedOut,
    onMessage: (m) => {
      if (m.type === 'visit' || m.type === 'lobby') {
        const v = state.visits.get(m.visitId);
        if (!v) {
          void loadVisits();
        } else if (m.type === 'visit') {
          Object.assign(v, {
            status: m.status,
            locked: m.locked,
            lobbyCount: m.lobbyCount,
            admittedCount: m.admittedCount,
          });
          renderVisits();
        }
        if (m.visitId === state.current) {
          if (m.type === 'lobby') renderParticipants(m.participants);
          else renderVisitState(m);
        }
      } else if (m.type === 'ended' && m.visitId === state.current) {
        renderVisitState({ status: 'ended', locked: false });
      }
    },
  });
}

async function loadVisits() {
  hide($('visits-error'));
  const r = await guarded(() => api('GET', '/api/visits'), $('visits-error'));
  if (!r) return;
  state.visits = new Map(r.visits.map((v) => [v.id, v]));
  renderVisits();
}

function renderVisits() {
  const visits = [...state.visits.values()];
  $('visits').replaceChildren(
    ...visits.map((v) =>
      el(
        'li',
        { class: 'row' },
        el(
          'div',
          { class: 'row-main' },
          el('strong', { text: `${timeOf(v.startTime)}–${timeOf(v.endTime)}` }),
          el('span', { class: `badge badge-${v.status}`, text: STATUS_LABELS[v.status] ?? v.status }),
          v.locked ? el('span', { class: 'badge', text: 'Locked' }) : null,
          el('span', {
            class: v.lobbyCount > 0 ? 'badge badge-waiting' : 'badge',
            'data-lobby': v.id,
            text: `${v.lobbyCount} waiting`,
          }),
        ),
        el(
          'div',
          { class: 'row-actions' },
          el('button', {
            type: 'button',
            class: 'button button-quiet',
            text: 'Open',
            'aria-label': `Open the visit at ${timeOf(v.startTime)}`,
            onclick: () => void openVisit(v.id),
          }),
        ),
      ),
    ),
  );
  $('visits-empty').hidden = visits.length > 0;
}

async function openVisit(id) {
  state.current = id;
  document.body.classList.add('in-visit');
  hide($('visits-card'));
  show($('visit'));
  hide($('visit-error'));
  const v = state.visits.get(id);
  $('visit-title').textContent = v ? `Visit at ${timeOf(v.startTime)}` : 'Visit';
  $('visit-title').focus();
  state.patientName = null;
  const [r, patient] = await Promise.all([
    guarded(() => api('GET', `/api/visits/${id}`), $('visit-error')),
    // The patient's name is PHI: read for treatment, recorded by scheduling (name fields only).
    v?.patientId
      ? api('GET', `/api/patients/${encodeURIComponent(v.patientId)}?purpose=treatment`).catch(() => null)
      : null,
  ]);
  if (state.current !== id) return;
  if (patient?.patient?.name) {
    state.patientName = patient.patient.name;
    $('visit-title').textContent = `Visit with ${state.patientName} at ${timeOf(v.startTime)}`;
  }
  if (!r) return;
  renderVisitState(r.visit);
  renderParticipants(r.visit.participants.filter((p) => p.kind !== 'clinician'));
}

function renderVisitState(v) {
  const ended = v.status === 'ended';
  $('visit-state').textContent = ended
    ? 'This visit has ended.'
    : `${STATUS_LABELS[v.status] ?? v.status}${v.locked ? ' · Locked: nobody new can be admitted' : ''}`;
  $('visit-lock').hidden = ended || v.locked;
  $('visit-unlock').hidden = ended || !v.locked;
  $('visit-end').hidden = ended;
  $('join-video').hidden = ended || state.onVideo === state.current;
}

const DEVICE_WORDS = ['', '', 'second', 'third', 'fourth', 'fifth'];

function participantLabel(p) {
  // Each redemption of a patient link is its own lobby entry, admitted on its own.
  const word = DEVICE_WORDS[p.device];
  const device = p.device > 1 ? (word ? ` — ${word} device` : ` — device ${p.device}`) : '';
  if (p.kind === 'patient' && state.patientName) return `${state.patientName} (patient)${device}`;
  return `${p.kind === 'patient' ? 'Patient' : 'Guest'} ${p.id.slice(-4).toUpperCase()}${device}`;
}

function renderParticipants(participants) {
  const lobby = participants.filter((p) => p.state === 'lobby');
  const admitted = participants.filter((p) => p.state === 'admitted');
  const action = (label, path, p, cls = 'button-quiet') =>
    el('button', {
      type: 'button',
      class: `button ${cls}`,
      text: label,
      'aria-label': `${label} ${participantLabel(p)}`,
      onclick: () => void visitAction(path, { participantId: p.id }),
    });
  $('lobby').replaceChildren(
    ...lobby.map((p) =>
      el(
        'li',
        { class: 'row' },
        el(
          'div',
          { class: 'row-main' },
          el('strong', { text: participantLabel(p) }),
          el('span', { text: ' is waiting' }),
        ),
        el(
          'div',
          { class: 'row-actions' },
          action('Admit', 'admit', p, 'button-primary'),
          action('Deny', 'deny', p),
        ),
      ),
    ),
  );
  $('lobby-empty').hidden = lobby.length > 0;
  $('admitted').replaceChildren(
    ...admitted.map((p) =>
      el(
        'li',
        { class: 'row' },
        el(
          'div',
          { class: 'row-main' },
          el('strong', { text: participantLabel(p) }),
          el('span', { text: p.inMedia ? ' · on video' : ' · admitted' }),
        ),
        el('div', { class: 'row-actions' }, action('Remove', 'kick', p)),
      ),
    ),
  );
  $('admitted-empty').hidden = admitted.length > 0;
}

async function visitAction(path, body = {}) {
  hide($('visit-error'));
  const id = state.current;
  const done = await guarded(() => api('POST', `/api/visits/${id}/${path}`, body), $('visit-error'));
  if (done === undefined || id !== state.current) return;
  const r = await guarded(() => api('GET', `/api/visits/${id}`), $('visit-error'));
  if (!r) return;
  renderVisitState(r.visit);
  renderParticipants(r.visit.participants.filter((p) => p.kind !== 'clinician'));
}

$('visit-lock').addEventListener('click', () => void visitAction('lock'));
$('visit-unlock').addEventListener('click', () => void visitAction('unlock'));
$('visit-end').addEventListener('click', () => {
  if (window.confirm('End this visit for everyone? The patient link stops working.')) void visitAction('end');
});
$('visit-back').addEventListener('click', () => {
  state.current = null;
  document.body.classList.remove('in-visit');
  hide($('visit'));
  show($('visits-card'));
  void loadVisits();
});
$('join-video').addEventListener('click', () => {
  const id = state.current;
  const stage = $('visit-stage');
  if (!window.HavenVisit?.start) {
    show($('stage-placeholder'));
    return;
  }
  hide($('stage-placeholder'));
  state.live?.activity();
  // While the clinician is on video the button is gone; it comes back when they leave or joining fails.
  const button = $('join-video');
  state.onVideo = id;
  button.hidden = true;
  void window.HavenVisit.start(stage, {
    mediaUrl: `/api/visits/${id}/media`,
    leaveUrl: `/api/visits/${id}/leave`,
    role: 'clinician',
    onFinished: (status) => {
      if (state.onVideo === id) state.onVideo = null;
      button.hidden = status === 'ended' || $('visit-end').hidden;
      // The console says "This visit has ended." itself: once is enough.
      if (status === 'ended') window.HavenVisit.clear();
    },
  });
});

void loadSession();

// ---------------------------------------------------------------- audit ledger (auditors and admins)

let ledgerPage = '';

async function loadLedger(fresh) {
  hide($('ledger-error'));
  if (fresh) {
    ledgerPage = '';
    $('ledger-rows').replaceChildren();
    const head = await guarded(() => api('GET', '/api/audit/head'), $('ledger-error'));
    if (head) {
      const fact = (term, value) => [el('dt', { text: term }), el('dd', { text: value })];
      $('ledger-head').replaceChildren(
        ...fact('Entries', String(head.treeSize)),
        ...fact('Root', `${head.rootHash.slice(0, 16)}…`),
        ...fact('Signed', head.signedAt ? new Date(head.signedAt).toLocaleString() : '—'),
        ...fact('Key', `${head.algorithm} ${head.keyId}`),
      );
    }
  }
  const patient = $('ledger-patient').value.trim();
  const query = new URLSearchParams();
  if (patient) query.set('patient', patient);
  if (ledgerPage) query.set('pageToken', ledgerPage);
  const r = await guarded(() => api('GET', `/api/audit/events?${query}`), $('ledger-error'));
  if (!r) return;
  $('ledger-rows').append(
    ...r.events.map((e) =>
      el(
        'tr',
        {},
        el('td', { text: String(e.leafIndex) }),
        el('td', { text: e.occurredAt ? new Date(e.occurredAt).toLocaleString() : '' }),
        el('td', { text: e.type }),
        el('td', { text: e.actor }),
        el('td', { text: e.patientId }),
        el(
          'td',
          {},
          el('a', {
            href: `/api/audit/events/${encodeURIComponent(e.id)}/proof`,
            download: `audit-proof-${e.id}.json`,
            text: 'Proof',
            'aria-label': `Download the inclusion proof of entry ${e.leafIndex}`,
          }),
        ),
      ),
    ),
  );
  ledgerPage = r.nextPageToken;
  $('ledger-more').hidden = !ledgerPage;
}

$('ledger-filter').addEventListener('submit', (event) => {
  event.preventDefault();
  void loadLedger(true);
});
$('ledger-more').addEventListener('click', () => void loadLedger(false));
