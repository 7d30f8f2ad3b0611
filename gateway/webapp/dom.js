// Elements built from a tag, attributes and children. Text is always added as text
// nodes (never parsed as markup): titles and descriptions are other people's words.
// The page’s policy requires Trusted Types: a string assigned as markup would throw.

let nextId = 0;

/** A new element: `props` are attributes, `on...` listeners; children are nodes or text. */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A fresh id for pairing a label with its control. */
export function uid(prefix) {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/** A labelled control: `<label for>` + the control, with an optional hint. */
export function field(label, props = {}, { tag = 'input', hint } = {}) {
  const id = props.id ?? uid(props.name ?? 'field');
  const hintId = hint ? `${id}-hint` : undefined;
  const control = h(tag, { ...props, id, 'aria-describedby': hintId });
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    control);
}

/** Empties `element` and fills it with `children`. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

/** An alert region for a form's errors, with `show(error)` and `clear()`. */
export function alertBox() {
  const box = h('div', { class: 'alert', role: 'alert', hidden: true });
  return {
    element: box,
    show(error) {
      const lines = Array.isArray(error) ? error : describe(error);
      replace(box, ...lines.map((line) => h('p', {}, line)));
      box.hidden = false;
    },
    clear() {
      box.replaceChildren();
      box.hidden = true;
    },
  };
}

/** What went wrong, in lines a person reads: the message, then each field's error. */
export function describe(error) {
  const lines = [error?.message ?? String(error)];
  if (error?.fields) {
    for (const [name, text] of Object.entries(error.fields)) lines.push(`${name}: ${text}`);
  }
  return lines;
}

/** Announces `text` to screen readers and shows it in the status line. */
export function announce(text) {
  const status = document.getElementById('status');
  status.textContent = text;
}

/** A date as the reader's locale writes it, or "never". */
export function when(rfc3339) {
  if (!rfc3339) return 'never';
  const date = new Date(rfc3339);
  return Number.isNaN(date.getTime()) ? rfc3339 : date.toLocaleString();
}

/** Runs `action` with `button` disabled and marked busy, so a double click sends once. */
export async function busy(button, action) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await action();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}
