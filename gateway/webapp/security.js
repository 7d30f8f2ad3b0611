// How the account signs in: an authenticator app (TOTP, with its QR code and recovery
// codes), and passkeys and security keys. Changing them needs a recent sign-in, or the
// current password typed here.

import { ApiError, call } from './api.js';
import { alertBox, announce, busy, field, h, replace, when } from './dom.js';
import * as webauthn from './webauthn.js';

const REAUTHENTICATION = 'REAUTHENTICATION_REQUIRED';

/** The sections for `user`'s sign-in methods. */
export function securitySections() {
  const reauth = field('Current password', {
    name: 'current_password', id: 'reauth-password', type: 'password', autocomplete: 'current-password',
  }, { hint: 'Needed only if you signed in a while ago.' });
  const password = () => reauth.querySelector('input').value;
  // Shows `error`, and for a sign-in that is not recent, points at the password field.
  const explain = (errors) => (error) => {
    if (error instanceof ApiError && error.reason === REAUTHENTICATION) {
      errors.show(['For your safety, type your current password under “Confirm it’s you”, then try again.']);
      reauth.querySelector('input').focus();
    } else {
      errors.show(webauthn.explain(error));
    }
  };
  const sections = [
    h('section', { 'aria-labelledby': 'reauth-heading' },
      h('h2', { id: 'reauth-heading' }, 'Confirm it’s you'), reauth),
    totpSection(password, explain),
  ];
  sections.push(passkeysSection(password, explain));
  return sections;
}

function totpSection(password, explain) {
  const errors = alertBox();
  const body = h('div');
  const section = h('section', { id: 'totp', 'aria-labelledby': 'totp-heading' },
    h('h2', { id: 'totp-heading' }, 'Authenticator app'), errors.element, body);
  const fail = explain(errors);

  const start = h('button', { type: 'button', id: 'totp-start' }, 'Set up an authenticator app');
  const offSubmit = h('button', { type: 'submit', class: 'danger' }, 'Turn off');
  const off = h('form', { id: 'totp-off', 'aria-label': 'Turn off the authenticator app' },
    h('p', {}, 'Already on? Turn it off with a code from the app or a recovery code.'),
    field('Code', { name: 'code', autocomplete: 'one-time-code', required: true }),
    offSubmit);
  off.addEventListener('submit', (event) => {
    event.preventDefault();
    errors.clear();
    busy(offSubmit, async () => {
      try {
        await call('DELETE', '/users/mfa/totp', {
          json: { code: off.elements.code.value.trim(), current_password: password() },
        });
        off.reset();
        announce('The authenticator app is off.');
      } catch (error) {
        fail(error);
      }
    });
  });
  start.addEventListener('click', () => busy(start, async () => {
    errors.clear();
    try {
      const enrolment = await call('POST', '/users/mfa/totp', { json: { current_password: password() } });
      replace(body, ...(await enrolling(enrolment, errors, fail, body)));
      body.querySelector('input').focus();
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) {
        errors.show(['The authenticator app is already on.']);
      } else {
        fail(error);
      }
    }
  }));
  replace(body, h('p', {}, 'Sign-ins then ask for a six-digit code from the app.'), start, off);
  return section;
}

// The QR code and secret of a new enrolment, and the form that confirms it.
async function enrolling(enrolment, errors, fail, body) {
  const svg = await (await fetch('/app/qr.svg', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ text: enrolment.otpauth_url }),
    credentials: 'omit',
    cache: 'no-store',
  })).text();
  const qr = h('img', {
    id: 'totp-qr',
    class: 'qr',
    alt: 'QR code to scan with your authenticator app',
    src: `data:image/svg+xml;base64,${btoa(svg)}`,
  });
  const submit = h('button', { type: 'submit' }, 'Turn on');
  const confirm = h('form', { id: 'totp-confirm', 'aria-label': 'Confirm the authenticator app' },
    field('Six-digit code from the app', {
      name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true,
      pattern: '[0-9]{6}',
    }),
    submit);
  confirm.addEventListener('submit', (event) => {
    event.preventDefault();
    errors.clear();
    busy(submit, async () => {
      try {
        const { recovery_codes: codes } = await call('POST', '/users/mfa/totp/confirm', {
          json: { code: confirm.elements.code.value.trim() },
        });
        replace(body,
          h('p', { role: 'status' }, 'The authenticator app is on. Keep these recovery codes somewhere safe: each works once, if you lose the app.'),
          h('ul', { id: 'recovery-codes', class: 'codes' }, codes.map((code) => h('li', {}, h('code', {}, code)))));
      } catch (error) {
        fail(error);
      }
    });
  });
  return [
    h('p', {}, 'Scan this code with your authenticator app, or type the key below.'),
    qr,
    h('p', {}, 'Key: ', h('code', { id: 'totp-secret' }, enrolment.secret)),
    confirm,
  ];
}

function passkeysSection(password, explain) {
  const errors = alertBox();
  const list = h('div', { id: 'passkey-list' });
  const section = h('section', { id: 'passkeys', 'aria-labelledby': 'passkeys-heading' },
    h('h2', { id: 'passkeys-heading' }, 'Passkeys and security keys'), errors.element, list);
  const fail = explain(errors);

  const refresh = async () => {
    let keys;
    try {
      keys = await call('GET', '/users/passkeys');
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        replace(list, h('p', {}, 'This server does not offer passkeys.'));
        return;
      }
      throw error;
    }
    replace(list,
      keys.length ? h('ul', { class: 'passkeys' }, keys.map((key) => passkeyItem(key))) : h('p', {}, 'None yet.'),
      webauthn.supported() ? addForm() : h('p', {}, 'This browser cannot create passkeys.'));
  };

  const passkeyItem = (key) => {
    const label = key.kind === 'security_key' ? 'Security key' : 'Passkey';
    const renameForm = h('form', { class: 'inline', 'aria-label': `Rename “${key.name}”` },
      field('Name', { name: 'name', required: true, value: key.name }),
      h('button', { type: 'submit' }, 'Rename'));
    renameForm.addEventListener('submit', (event) => {
      event.preventDefault();
      errors.clear();
      call('PATCH', `/users/passkeys/${encodeURIComponent(key._id)}`, {
        json: { name: renameForm.elements.name.value },
      }).then(() => announce('Renamed.')).then(refresh).catch(fail);
    });
    const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove “${key.name}”` }, 'Remove');
    remove.addEventListener('click', () => {
      if (!window.confirm(`Remove “${key.name}”?`)) return;
      errors.clear();
      busy(remove, () => call('DELETE', `/users/passkeys/${encodeURIComponent(key._id)}`, {
        json: { current_password: password() },
      }).then(() => announce('Removed.')).then(refresh).catch(fail));
    });
    return h('li', { class: 'passkey', 'data-id': key._id },
      h('p', { class: 'device' }, key.name, ` (${label})`),
      h('p', { class: 'meta' },
        `${key.authenticator ?? 'Unknown authenticator'} · added ${when(key.created_at)} · last used ${when(key.last_used_at)}`),
      renameForm, remove);
  };

  const addForm = () => {
    const form = h('form', { id: 'passkey-add', 'aria-label': 'Add a passkey or a security key' },
      field('Name for it (optional)', { name: 'name', placeholder: 'e.g. YubiKey 5' }),
      h('div', { class: 'actions' },
        h('button', { type: 'submit', value: 'passkey', id: 'add-passkey' }, 'Add a passkey'),
        h('button', { type: 'submit', value: 'security_key', id: 'add-security-key' }, 'Add a security key')));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      errors.clear();
      const button = event.submitter;
      busy(button, async () => {
        try {
          const { ceremony_id: ceremonyId, options } = await call('POST', '/users/passkeys/register/start', {
            json: { kind: button.value, current_password: password() || undefined },
          });
          const credential = await webauthn.create(options);
          const name = form.elements.name.value.trim();
          await call('POST', '/users/passkeys/register/finish', {
            json: { ceremony_id: ceremonyId, credential, ...(name ? { name } : {}) },
          });
          announce(button.value === 'security_key' ? 'Security key added.' : 'Passkey added.');
          await refresh();
        } catch (error) {
          fail(error);
        }
      });
    });
    return form;
  };

  refresh().catch(fail);
  return section;
}
