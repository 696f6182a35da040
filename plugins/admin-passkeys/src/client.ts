/**
 * The sign-in and invite pages' script (served from the gateway, so the strict CSP holds: no inline code, no CDN).
 * It uses the SimpleWebAuthn browser bundle (served beside it as webauthn.js) to run the ceremony the server
 * started, then posts the answer back and follows the redirect the server answers with.
 */
export const PASSKEYS_JS = `(function () {
  'use strict';
  var form = document.querySelector('form[data-passkey]');
  if (!form) return;
  var status = document.getElementById('passkey-status');
  var button = form.querySelector('button');
  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? 'error' : 'muted';
  }
  function post(url, body) {
    return fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (!response.ok) throw new Error(json.detail || json.title || ('HTTP ' + response.status));
        return json;
      });
    });
  }
  if (!window.PublicKeyCredential) {
    say('This browser cannot use passkeys. Use a current browser, or an API key for automation.', true);
    button.disabled = true;
    return;
  }
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var mode = form.getAttribute('data-passkey');
    var base = form.getAttribute('action');
    var lib = window.SimpleWebAuthnBrowser;
    button.disabled = true;
    say(mode === 'register' ? 'Creating your passkey…' : 'Waiting for your passkey…', false);
    post(base + '/options')
      .then(function (started) {
        var run = mode === 'register' ? lib.startRegistration : lib.startAuthentication;
        return run({ optionsJSON: started.options }).then(function (answer) {
          return post(base, {
            ceremonyId: started.ceremonyId,
            response: answer,
            returnTo: form.getAttribute('data-return-to') || '/admin',
          });
        });
      })
      .then(function (done) {
        say('Signed in.', false);
        window.location.assign(done.redirect || '/admin');
      })
      .catch(function (error) {
        button.disabled = false;
        say(error && error.name === 'NotAllowedError' ? 'The passkey request was cancelled or timed out.' : String(error.message || error), true);
      });
  });
})();
`;
