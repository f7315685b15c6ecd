// Deadbolt's pages work without this file; it only adds what needs the browser: moving focus
// to an error, resend countdowns, and copying, downloading or printing recovery codes.
// Loaded with `defer` from our own origin (the CSP allows no inline script).
"use strict";

(function () {
  // Errors: move focus to the summary so screen readers read it at once.
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }

  // Resend countdowns: <button data-countdown="60"> stays disabled until it may be used.
  document.querySelectorAll("[data-countdown]").forEach(function (button) {
    var left = parseInt(button.getAttribute("data-countdown"), 10);
    var status = document.getElementById(button.id + "-countdown");
    if (!(left > 0)) {
      return;
    }
    button.disabled = true;
    var tick = function () {
      if (left <= 0) {
        button.disabled = false;
        if (status) {
          status.textContent = "You can ask for a new code now.";
        }
        return;
      }
      if (status) {
        status.textContent = "You can ask for a new code in " + left + " s.";
      }
      left -= 1;
      window.setTimeout(tick, 1000);
    };
    tick();
  });

  function textOf(id) {
    var el = document.getElementById(id);
    if (!el) {
      return "";
    }
    return Array.prototype.map
      .call(el.querySelectorAll("[data-code]"), function (c) {
        return c.textContent.trim();
      })
      .join("\n");
  }

  function say(text) {
    var status = document.getElementById("codes-status");
    if (status) {
      status.textContent = text;
    }
  }

  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = textOf(button.getAttribute("data-copy-target"));
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(
          function () {
            say("Codes copied to the clipboard.");
          },
          function () {
            say("Copying was refused: select the codes and copy them by hand.");
          }
        );
      } else {
        say("Copying is not available here: select the codes and copy them by hand.");
      }
    });
  });

  document.querySelectorAll("[data-download-target]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = textOf(button.getAttribute("data-download-target"));
      var blob = new Blob([button.getAttribute("data-heading") + "\n\n" + text + "\n"], {
        type: "text/plain",
      });
      var url = URL.createObjectURL(blob);
      var a = document.createElement("a");
      a.href = url;
      a.download = button.getAttribute("data-filename") || "recovery-codes.txt";
      document.body.appendChild(a);
      a.click();
      a.remove();
      window.setTimeout(function () {
        URL.revokeObjectURL(url);
      }, 1000);
      say("Codes downloaded.");
    });
  });

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      window.print();
    });
  });

  // "I have saved them": the finish button waits for the box (the box is `required` too).
  document.querySelectorAll("[data-enables]").forEach(function (box) {
    var target = document.getElementById(box.getAttribute("data-enables"));
    if (!target) {
      return;
    }
    var sync = function () {
      target.disabled = !box.checked;
    };
    box.addEventListener("change", sync);
    sync();
  });
})();

// WebAuthn: security keys and passkeys. Options come from the server in WebAuthn Level 3 JSON
// form (a data attribute, or /v1/login/passkey/start); the answer goes back the same way in the
// form's hidden `credential` field.
(function () {
  "use strict";
  if (!window.PublicKeyCredential) {
    return;
  }
  var b64 = {
    decode: function (s) {
      var t = s.replace(/-/g, "+").replace(/_/g, "/");
      while (t.length % 4) t += "=";
      var bin = atob(t);
      var out = new Uint8Array(bin.length);
      for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
      return out.buffer;
    },
    encode: function (buf) {
      var bytes = new Uint8Array(buf);
      var bin = "";
      for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
      return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    },
  };
  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    var o = Object.assign({}, json);
    o.challenge = b64.decode(json.challenge);
    o.user = Object.assign({}, json.user, { id: b64.decode(json.user.id) });
    o.excludeCredentials = (json.excludeCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: b64.decode(c.id) });
    });
    return o;
  }
  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    var o = Object.assign({}, json);
    o.challenge = b64.decode(json.challenge);
    o.allowCredentials = (json.allowCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: b64.decode(c.id) });
    });
    return o;
  }
  function toJSON(cred) {
    if (cred.toJSON) {
      return cred.toJSON();
    }
    var r = cred.response;
    var response = { clientDataJSON: b64.encode(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = b64.encode(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = b64.encode(r.authenticatorData);
      response.signature = b64.encode(r.signature);
      if (r.userHandle) response.userHandle = b64.encode(r.userHandle);
    }
    return {
      id: cred.id,
      rawId: b64.encode(cred.rawId),
      type: cred.type,
      response: response,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults(),
    };
  }
  function status(form, text) {
    var el = form.querySelector("#webauthn-status") || document.getElementById("webauthn-status");
    if (el) el.textContent = text;
  }
  function failed(form, err) {
    var why = err && err.name === "NotAllowedError"
      ? "The request was cancelled or timed out. Press the button to try again."
      : "Your browser could not use the key" + (err && err.message ? " (" + err.message + ")" : "") + ". Press the button to try again.";
    status(form, why);
  }

  // A form that carries options: the ceremony runs when it is submitted.
  document.querySelectorAll("form[data-webauthn]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var field = form.querySelector('input[name="credential"]');
      if (field.value) return;
      event.preventDefault();
      var json = JSON.parse(form.getAttribute("data-options"));
      var create = form.getAttribute("data-webauthn") === "create";
      status(form, "Waiting for your security key or passkey…");
      var asked = create
        ? navigator.credentials.create({ publicKey: creationOptions(json) })
        : navigator.credentials.get({ publicKey: requestOptions(json) });
      asked.then(
        function (cred) {
          field.value = JSON.stringify(toJSON(cred));
          status(form, "Checking…");
          form.submit();
        },
        function (err) {
          failed(form, err);
        }
      );
    });
  });

  // Passkey sign-in from the sign-in page: options from the JSON API, the answer to the page.
  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      var field = form.querySelector('input[name="credential"]');
      if (field.value) return;
      event.preventDefault();
      status(form, "Waiting for your passkey…");
      fetch("/v1/login/passkey/start", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
        credentials: "same-origin",
      })
        .then(function (r) {
          if (!r.ok) throw new Error("the server refused (" + r.status + ")");
          return r.json();
        })
        .then(function (start) {
          form.querySelector('input[name="challenge_id"]').value = start.challenge_id;
          return navigator.credentials.get({ publicKey: requestOptions(start.public_key) });
        })
        .then(
          function (cred) {
            field.value = JSON.stringify(toJSON(cred));
            status(form, "Signing in…");
            form.submit();
          },
          function (err) {
            failed(form, err);
          }
        );
    });
  });
})();
