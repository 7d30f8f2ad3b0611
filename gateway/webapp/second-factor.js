// The second step of a sign-in: a code from the authenticator app, a recovery code, or
// a security key, whichever the account has.

import { adopt, call } from './api.js';
import { alertBox, busy, field, h } from './dom.js';
import * as webauthn from './webauthn.js';

/** Renders the step for `challenge` (the login's answer); `done` runs once signed in. */
export function secondFactorView(challenge, done) {
  const methods = challenge.mfa_methods ?? ['totp', 'recovery_code'];
  const errors = alertBox();
  const finish = async (body) => {
    errors.clear();
    try {
      adopt(await call('POST', '/users/login/mfa', {
        json: { mfa_token: challenge.mfa_token, ...body },
        auth: false,
      }));
      done();
    } catch (error) {
      errors.show(webauthn.explain(error));
    }
  };

  const parts = [h('h1', { tabindex: '-1' }, 'Two-step sign-in'), errors.element];
  const keyOptions = challenge.security_key?.options;
  if (keyOptions && webauthn.supported()) {
    const useKey = h('button', { type: 'button', id: 'use-security-key' }, 'Use your security key');
    useKey.addEventListener('click', () => busy(useKey, async () => {
      try {
        await finish({ credential: await webauthn.get(keyOptions) });
      } catch (error) {
        errors.show(webauthn.explain(error));
      }
    }));
    parts.push(h('section', { 'aria-labelledby': 'key-heading' },
      h('h2', { id: 'key-heading' }, 'Security key'),
      h('p', {}, 'Insert or touch the security key registered to this account.'),
      useKey));
  }
  if (methods.includes('totp') || methods.includes('recovery_code')) {
    const label = methods.includes('totp')
      ? 'Code from your authenticator app, or a recovery code'
      : 'Recovery code';
    const code = field(label, {
      name: 'code', id: 'mfa-code', autocomplete: 'one-time-code', required: true,
      spellcheck: 'false', autocapitalize: 'none',
    });
    const submit = h('button', { type: 'submit' }, 'Verify');
    const form = h('form', { id: 'mfa-form', 'aria-labelledby': 'code-heading' },
      h('h2', { id: 'code-heading' }, 'Code'), code, submit);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const value = form.elements.code.value.trim();
      busy(submit, () => finish({ code: value }));
    });
    parts.push(form);
  }
  return parts;
}
