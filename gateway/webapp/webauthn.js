// Passkeys and security keys through the browser's WebAuthn API. The server's options
// are the JSON that PublicKeyCredential.parse*OptionsFromJSON() take, and a credential
// goes back as its toJSON(); nothing is encoded by hand here.

/** Whether this browser can do the ceremonies with JSON options. */
export function supported() {
  return typeof PublicKeyCredential !== 'undefined'
    && typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function'
    && typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function';
}

// Options may come wrapped as `{publicKey: ...}`; the browser wants the inner object.
const inner = (options) => options?.publicKey ?? options;

/** Creates a credential for `options`; answers what to send to the finish route. */
export async function create(options) {
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(inner(options));
  const credential = await navigator.credentials.create({ publicKey });
  return credential.toJSON();
}

/** Signs `options`' challenge with a credential; answers what to send back. */
export async function get(options) {
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(inner(options));
  const credential = await navigator.credentials.get({ publicKey });
  return credential.toJSON();
}

/** A refusal by the browser or the person, in words (the API's own errors pass through). */
export function explain(error) {
  if (error?.name === 'NotAllowedError') {
    return new Error('The passkey request was cancelled or timed out.');
  }
  if (error?.name === 'InvalidStateError') {
    return new Error('This authenticator is already registered to the account.');
  }
  return error;
}
