// The account: its name, its password, its open sessions (each can be ended), and
// its sign-in methods (security.js).

import { call, currentUser, rename } from './api.js';
import { alertBox, announce, busy, field, h, replace, when } from './dom.js';
import { securitySections } from './security.js';

/** The account view, filling `root`; `signedOut` runs when this session is ended here. */
export async function accountView(root, signedOut) {
  const user = await call('GET', '/users/');
  rename(user.name);
  const sessions = h('div', { id: 'sessions' });
  replace(root,
    h('h1', { tabindex: '-1' }, 'Your account'),
    profileSection(user),
    passwordSection(),
    h('section', { 'aria-labelledby': 'sessions-heading' },
      h('h2', { id: 'sessions-heading' }, 'Where you are signed in'), sessions),
    ...securitySections(user));
  await showSessions(sessions, signedOut);
}

function profileSection(user) {
  const errors = alertBox();
  const submit = h('button', { type: 'submit' }, 'Save name');
  const form = h('form', { id: 'profile', 'aria-labelledby': 'profile-heading' },
    h('h2', { id: 'profile-heading' }, 'Profile'),
    h('p', {}, 'Email: ', h('span', { id: 'account-email' }, user.email)),
    errors.element,
    field('Name', { name: 'name', autocomplete: 'name', required: true, value: user.name }),
    submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    errors.clear();
    busy(submit, async () => {
      try {
        const changed = await call('PUT', '/users/', { json: { name: form.elements.name.value } });
        rename(changed.name);
        document.dispatchEvent(new Event('account-changed'));
        announce('Name saved.');
      } catch (error) {
        errors.show(error);
      }
    });
  });
  return form;
}

function passwordSection() {
  const errors = alertBox();
  const submit = h('button', { type: 'submit' }, 'Change password');
  const form = h('form', { id: 'password-change', 'aria-labelledby': 'password-change-heading' },
    h('h2', { id: 'password-change-heading' }, 'Password'),
    errors.element,
    field('Current password', { name: 'current_password', type: 'password', autocomplete: 'current-password', required: true }),
    field('New password', { name: 'new_password', type: 'password', autocomplete: 'new-password', required: true }),
    submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    errors.clear();
    const { current_password: current, new_password: next } = form.elements;
    busy(submit, async () => {
      try {
        const answer = await call('PUT', '/users/password', {
          json: { current_password: current.value, new_password: next.value },
        });
        form.reset();
        announce(`Password changed; ${answer.ended_sessions} other session(s) ended.`);
      } catch (error) {
        errors.show(error);
      }
    });
  });
  return form;
}

async function showSessions(container, signedOut) {
  const errors = alertBox();
  const list = await call('GET', '/users/sessions');
  const rows = list.map((session) => {
    const device = session.user_agent ?? 'Unknown device';
    const end = h('button', {
      type: 'button',
      class: session.current ? '' : 'danger',
      'aria-label': session.current ? 'Sign out of this session' : `End the session started ${when(session.created_at)}`,
    }, session.current ? 'Sign out' : 'End session');
    end.addEventListener('click', () => busy(end, async () => {
      errors.clear();
      try {
        if (session.current) {
          signedOut();
          return;
        }
        await call('DELETE', `/users/sessions/${encodeURIComponent(session._id)}`);
        announce('Session ended.');
        await showSessions(container, signedOut);
      } catch (error) {
        errors.show(error);
      }
    }));
    return h('li', { class: 'session', 'data-id': session._id },
      h('p', { class: 'device' }, device, session.current ? ' (this session)' : ''),
      h('p', { class: 'meta' },
        `Started ${when(session.created_at)} · last used ${when(session.last_used_at)}`,
        session.client_address ? ` · from ${session.client_address}` : ''),
      end);
  });
  replace(container, errors.element, h('ul', { class: 'sessions' }, rows));
}

/** The signed-in account's name for the header. */
export const accountName = () => currentUser()?.name ?? '';
