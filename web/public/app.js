import { ApiError, api } from './api.js';

const ROLE_LABELS = {
  admin: 'administrator',
  clinician: 'clinician',
  front_desk: 'front desk',
  auditor: 'auditor',
};
const CAN_BOOK = new Set(['admin', 'clinician', 'front_desk']);

const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
};

function show(el, text) {
  if (text !== undefined) el.textContent = text;
  el.hidden = false;
}
function hide(el) {
  el.hidden = true;
}

/** Clears every error message and aria-invalid flag inside a form. */
function clearErrors(form) {
  for (const el of form.querySelectorAll('.field-error, .form-error, .form-success')) {
    el.textContent = '';
    el.hidden = true;
  }
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
}

/**
 * Shows an API error: each field violation next to its field (unknown fields in the form-level message), and
 * moves focus to the first field in error, or to the form-level message.
 */
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
    const input = form.querySelector(`[name="${CSS.escape(field)}"]`);
    const box = document.getElementById(`${field}-error`);
    if (!input || !box) {
      general.push(...descriptions);
      continue;
    }
    const label = form.querySelector(`label[for="${CSS.escape(field)}"]`);
    const name = label ? label.firstChild.textContent.trim() : field;
    show(box, `${name} ${descriptions.join('; ')}.`);
    input.setAttribute('aria-invalid', 'true');
    firstInvalid ??= input;
  }
  if (violations.length === 0 || general.length > 0) {
    const message = violations.length === 0 ? err.message : `${general.join('; ')}.`;
    show(errorBox, message);
  } else {
    show(errorBox, 'Please correct the highlighted fields.');
  }
  (firstInvalid ?? errorBox).focus?.();
}

function greeting() {
  const h = new Date().getHours();
  return h < 12 ? 'Good morning' : h < 18 ? 'Good afternoon' : 'Good evening';
}

function showSignIn() {
  hide($('loading'));
  hide($('home'));
  hide($('sign-out'));
  show($('sign-in'));
  $('username').focus();
}

function showHome(me, notice) {
  hide($('loading'));
  hide($('sign-in'));
  const role = ROLE_LABELS[me.role] ?? 'member of staff';
  $('home-title').textContent = `${greeting()}.`;
  $('home-role').textContent = `You are signed in as ${role}.`;
  const noticeBox = $('account-notice');
  if (notice) show(noticeBox, notice);
  else hide(noticeBox);
  if (CAN_BOOK.has(me.role)) show($('book'));
  else hide($('book'));
  show($('home'));
  show($('sign-out'));
  $('home-title').setAttribute('tabindex', '-1');
  $('home-title').focus();
}

async function loadSession() {
  try {
    showHome(await api('GET', '/api/me'));
  } catch {
    showSignIn();
  }
}

function busy(form, isBusy) {
  const button = form.querySelector('button[type="submit"]');
  button.disabled = isBusy;
  form.setAttribute('aria-busy', String(isBusy));
}

$('sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const data = new FormData(form);
  busy(form, true);
  try {
    const result = await api('POST', '/api/auth/login', {
      username: String(data.get('username') ?? ''),
      password: String(data.get('password') ?? ''),
      totp: String(data.get('totp') ?? ''),
    });
    form.reset();
    const notice = result.mfaEnrollmentRequired
      ? 'Your account needs an authenticator app before you can continue. Please ask your administrator.'
      : result.passwordChangeRequired
        ? 'Your password has expired. Please ask your administrator to help you set a new one.'
        : '';
    const me = await api('GET', '/api/me').catch(() => ({ role: result.user.role }));
    showHome(me, notice);
  } catch (err) {
    $('password').value = '';
    showErrors(form, $('sign-in-error'), err);
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
    const result = await api('POST', '/api/appointments', {
      clinicianId: String(data.get('clinicianId') ?? '').trim(),
      patientId: String(data.get('patientId') ?? '').trim(),
      startTime: when('startTime'),
      endTime: when('endTime'),
    });
    form.reset();
    const start = new Date(result.appointment.startTime);
    show($('book-success'), `Appointment booked for ${start.toLocaleString()}.`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      showSignIn();
      return;
    }
    showErrors(form, $('book-error'), err);
  } finally {
    busy(form, false);
  }
});

$('sign-out').addEventListener('click', async () => {
  await api('POST', '/api/auth/logout', {}).catch(() => undefined);
  clearErrors($('book-form'));
  $('book-form').reset();
  showSignIn();
});

void loadSession();
