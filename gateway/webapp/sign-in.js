// Signing in (a password, then maybe a second factor; or a passkey with no username)
// and signing up (a password, or a passkey alone).

import { adopt, call } from './api.js';
import { alertBox, busy, field, h } from './dom.js';
import { secondFactorView } from './second-factor.js';
import * as webauthn from './webauthn.js';

/** The sign-in view; `show` replaces the view's content, `done` runs once signed in. */
export function signInView(show, done) {
  const errors = alertBox();
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { id: 'sign-in', 'aria-labelledby': 'password-heading' },
    h('h2', { id: 'password-heading' }, 'With your password'),
    field('Email', { name: 'email', type: 'email', autocomplete: 'username webauthn', required: true }),
    field('Password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
    submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    errors.clear();
    busy(submit, async () => {
      try {
        const answer = await call('POST', '/users/login', {
          json: { email: form.elements.email.value, password: form.elements.password.value },
          auth: false,
        });
        if (answer.mfa_required) {
          show(...secondFactorView(answer, done));
        } else {
          adopt(answer);
          done();
        }
      } catch (error) {
        errors.show(error);
      }
    });
  });

  const parts = [h('h1', { tabindex: '-1' }, 'Sign in'), errors.element, form];
  if (webauthn.supported()) {
    const passkey = h('button', { type: 'button', id: 'passkey-sign-in' }, 'Sign in with a passkey');
    passkey.addEventListener('click', () => {
      errors.clear();
      busy(passkey, async () => {
        try {
          const { ceremony_id: ceremonyId, options } = await call(
            'POST', '/users/login/passkey/start', { json: {}, auth: false });
          const credential = await webauthn.get(options);
          adopt(await call('POST', '/users/login/passkey/finish', {
            json: { ceremony_id: ceremonyId, credential },
            auth: false,
          }));
          done();
        } catch (error) {
          errors.show(webauthn.explain(error));
        }
      });
    });
    parts.push(h('section', { 'aria-labelledby': 'passkey-heading' },
      h('h2', { id: 'passkey-heading' }, 'With a passkey'),
      h('p', {}, 'No email or password needed: your device asks which passkey to use.'),
      passkey));
  }
  parts.push(h('p', {}, 'New here? ', h('a', { href: '#/sign-up' }, 'Create an account')));
  return parts;
}

/** The sign-up view: a name and an email, then a password or a passkey. */
export function signUpView(done) {
  const errors = alertBox();
  const withPassword = h('button', { type: 'submit', value: 'password' }, 'Sign up with a password');
  const withPasskey = webauthn.supported()
    ? h('button', { type: 'submit', value: 'passkey', id: 'passkey-sign-up' }, 'Sign up with a passkey')
    : null;
  const form = h('form', { id: 'sign-up', 'aria-labelledby': 'sign-up-heading' },
    field('Name', { name: 'name', autocomplete: 'name', required: true }),
    field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true }),
    field('Password', { name: 'password', type: 'password', autocomplete: 'new-password' }, {
      hint: withPasskey ? 'Leave it empty to sign up with a passkey instead.' : undefined,
    }),
    withPassword, withPasskey);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    errors.clear();
    const button = event.submitter ?? withPassword;
    const { name, email, password } = form.elements;
    busy(button, async () => {
      try {
        if (button.value === 'passkey') {
          const { ceremony_id: ceremonyId, options } = await call(
            'POST', '/users/passkeys/register/start',
            { json: { name: name.value, email: email.value }, auth: false });
          const credential = await webauthn.create(options);
          adopt(await call('POST', '/users/passkeys/register/finish', {
            json: { ceremony_id: ceremonyId, credential },
            auth: false,
          }));
        } else {
          if (!password.value) {
            errors.show(['Choose a password, or sign up with a passkey.']);
            password.focus();
            return;
          }
          await call('POST', '/users/', {
            json: { name: name.value, email: email.value, password: password.value },
            auth: false,
          });
          const answer = await call('POST', '/users/login', {
            json: { email: email.value, password: password.value },
            auth: false,
          });
          adopt(answer);
        }
        done();
      } catch (error) {
        errors.show(webauthn.explain(error));
      }
    });
  });
  return [
    h('h1', { tabindex: '-1', id: 'sign-up-heading' }, 'Create an account'),
    errors.element,
    form,
    h('p', {}, 'Already have one? ', h('a', { href: '#/sign-in' }, 'Sign in')),
  ];
}
