// The page's entry: the header's navigation and one view at a time, chosen by the
// address's fragment (#/sign-in, #/sign-up, #/books, #/account). Signed out, only the
// sign-in and sign-up views are shown.

import { onSignedOut, signOut, signedIn } from './api.js';
import { accountName, accountView } from './account.js';
import { booksView } from './books.js';
import { alertBox, announce, h, replace } from './dom.js';
import { signInView, signUpView } from './sign-in.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');

const PUBLIC = new Set(['#/sign-in', '#/sign-up']);

function go(route) {
  if (location.hash === route) render();
  else location.hash = route;
}

function signedInNow() {
  announce(`Signed in as ${accountName() || 'you'}.`);
  go('#/books');
}

async function endSession() {
  await signOut().catch(() => {});
  announce('Signed out.');
  go('#/sign-in');
}

function showNav() {
  if (!signedIn()) {
    replace(nav);
    return;
  }
  const out = h('button', { type: 'button', id: 'sign-out' }, 'Sign out');
  out.addEventListener('click', endSession);
  const link = (route, text) => h('a', {
    href: route,
    'aria-current': location.hash === route ? 'page' : undefined,
  }, text);
  replace(nav, h('ul', {},
    h('li', {}, link('#/books', 'Books')),
    h('li', {}, link('#/account', 'Account')),
    h('li', {}, h('span', { class: 'who' }, accountName())),
    h('li', {}, out)));
}

// Shows a view's parts and moves focus to its heading, so a screen reader hears it.
function show(...parts) {
  replace(main, ...parts);
  main.querySelector('h1')?.focus();
}

async function render() {
  let route = location.hash;
  if (!route.startsWith('#/')) return;
  if (!signedIn() && !PUBLIC.has(route)) route = '#/sign-in';
  if (signedIn() && PUBLIC.has(route)) route = '#/books';
  if (route !== location.hash) {
    location.hash = route;
    return;
  }
  showNav();
  try {
    switch (route) {
      case '#/sign-in':
        show(...signInView(show, signedInNow));
        document.title = 'Sign in · Bookshelf';
        break;
      case '#/sign-up':
        show(...signUpView(signedInNow));
        document.title = 'Create an account · Bookshelf';
        break;
      case '#/account':
        document.title = 'Account · Bookshelf';
        await accountView(main, endSession);
        main.querySelector('h1')?.focus();
        break;
      default:
        document.title = 'Books · Bookshelf';
        await booksView(main);
        main.querySelector('h1')?.focus();
    }
  } catch (error) {
    const errors = alertBox();
    show(h('h1', { tabindex: '-1' }, 'Something went wrong'), errors.element);
    errors.show(error);
  }
}

onSignedOut(() => {
  announce('Your session ended. Please sign in again.');
  go('#/sign-in');
});
document.addEventListener('account-changed', showNav);
window.addEventListener('hashchange', render);
if (!location.hash.startsWith('#/')) history.replaceState(null, '', '#/sign-in');
render();
