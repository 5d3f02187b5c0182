// Passkeys (WebAuthn) with @simplewebauthn/browser (served by the gateway at /vendor/simplewebauthn-browser.js,
// a classic script that sets window.SimpleWebAuthnBrowser). Sign in without a password from the sign-in screen;
// list, add and remove one's passkeys on the home screen. The ceremonies' checks are all server-side.
import { api } from './api.js';

const $ = (id) => document.getElementById(id);
const webauthn = () => window.SimpleWebAuthnBrowser;

function say(node, text) {
  node.textContent = text;
  node.hidden = !text;
}

/** The message to show for a failed ceremony: the browser's (cancelled, not allowed) or the server's. */
function failure(err) {
  if (err && err.name === 'NotAllowedError') return 'The passkey request was cancelled or timed out.';
  return (err && err.message) || 'The passkey was not accepted.';
}

// ---------------------------------------------------------------- sign-in

$('passkey-sign-in').addEventListener('click', async () => {
  const box = $('passkey-sign-in-error');
  say(box, '');
  if (!webauthn()?.browserSupportsWebAuthn()) return say(box, 'This browser does not support passkeys.');
  try {
    const { options } = await api('POST', '/api/auth/passkeys/sign-in/start', {});
    const response = await webauthn().startAuthentication({ optionsJSON: options });
    await api('POST', '/api/auth/passkeys/sign-in/finish', { response });
    window.location.reload(); // the app shows the signed-in home
  } catch (err) {
    say(box, failure(err));
  }
});

// ---------------------------------------------------------------- MFA enrollment with a passkey instead of TOTP

/** Registers a passkey for the signed-in user (an enrollment-only session is enough); resolves with it. */
async function register(name) {
  const { ceremony, options } = await api('POST', '/api/auth/passkeys/register/start', {});
  const response = await webauthn().startRegistration({ optionsJSON: options });
  const { passkey } = await api('POST', '/api/auth/passkeys/register/finish', { ceremony, response, name });
  return passkey;
}

$('enroll-passkey').addEventListener('click', async () => {
  const box = $('enroll-passkey-error');
  say(box, '');
  if (!webauthn()?.browserSupportsWebAuthn()) return say(box, 'This browser does not support passkeys.');
  try {
    await register('Passkey');
    // The enrollment-only session has done its job: sign in again, with the passkey.
    await api('POST', '/api/auth/logout', {}).catch(() => undefined);
    window.location.reload();
  } catch (err) {
    say(box, failure(err));
  }
});

// ---------------------------------------------------------------- one's passkeys

function row(passkey) {
  const li = document.createElement('li');
  const label = document.createElement('span');
  const used = passkey.lastUsedAt
    ? `last used ${new Date(passkey.lastUsedAt).toLocaleString()}`
    : 'never used';
  label.textContent = `${passkey.name} (added ${new Date(passkey.createdAt).toLocaleDateString()}, ${used})`;
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'button button-quiet';
  remove.textContent = 'Remove';
  remove.setAttribute('aria-label', `Remove the passkey ${passkey.name}`);
  remove.addEventListener('click', async () => {
    try {
      await api('DELETE', `/api/me/passkeys/${encodeURIComponent(passkey.id)}`);
      await loadPasskeys();
      say($('passkey-status'), `The passkey ${passkey.name} was removed.`);
    } catch (err) {
      say($('passkey-error'), failure(err));
    }
  });
  li.append(label, ' ', remove);
  return li;
}

async function loadPasskeys() {
  try {
    const { passkeys } = await api('GET', '/api/me/passkeys');
    $('passkey-list').replaceChildren(...passkeys.map(row));
    $('passkey-empty').hidden = passkeys.length > 0;
  } catch (err) {
    say($('passkey-error'), failure(err));
  }
}

$('passkey-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  say($('passkey-error'), '');
  say($('passkey-status'), '');
  if (!webauthn()?.browserSupportsWebAuthn())
    return say($('passkey-error'), 'This browser does not support passkeys.');
  try {
    const passkey = await register(String(new FormData(form).get('name') ?? '').trim());
    form.reset();
    await loadPasskeys(); // the list first: the status tells a screen reader (and a test) it is up to date
    say($('passkey-status'), `The passkey ${passkey.name} was added.`);
  } catch (err) {
    say($('passkey-error'), failure(err));
  }
});

// The app shows the home screen by un-hiding #home: the list is loaded each time it appears.
new MutationObserver(() => {
  if (!$('home').hidden) void loadPasskeys();
}).observe($('home'), { attributes: true, attributeFilter: ['hidden'] });
