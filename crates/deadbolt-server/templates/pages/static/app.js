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

// Push approval. On a page of a signed-in browser, ask every few seconds for the requests this
// browser approves and show each in a dialog: who asks, from where and for what, the number to
// pick (the one the other screen shows), Approve and "This wasn't me". The waiting sign-in page
// submits its form every few seconds until the request is answered.
(function () {
  var signOut = document.getElementById("sign-out");
  var csrfInput = signOut && signOut.form && signOut.form.querySelector("input[name=csrf]");
  var open = null;
  var answered = {};

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      e.setAttribute(k, attrs[k]);
    });
    if (text) {
      e.textContent = text;
    }
    return e;
  }

  // What a step-up's action is, in words (an action this list does not know is named as is).
  var actions = {
    "password.change": "change your password",
    "account.delete": "delete your account",
    "mfa.manage": "change how you sign in",
    "email.change": "change your email address",
    "phone.change": "change your phone number",
    "api_key.create": "create an API key",
    "api_key.revoke": "revoke an API key",
    "team.manage": "manage a team",
    "admin.mfa_reset": "reset another account's two-step sign-in",
    "admin.grant": "give administrator rights",
    "policy.change": "change the security policy",
    "client.manage": "manage an application",
    "oidc.authorize": "sign in to an application",
    "device.approve": "sign in a device to your account",
  };

  function describe(a) {
    var what = "sign in";
    if (a.purpose === "step_up") {
      what = actions[a.action] || (a.action ? "confirm the action “" + a.action + "”" : "confirm an action");
    } else if (a.purpose === "password_reset") {
      what = "reset your password";
    }
    var by = a.requested_by || {};
    var where = [by.ip, by.place].filter(Boolean).join(", ") || "an unknown place";
    return "Someone is trying to " + what + " from " + where + " on " + (by.user_agent || "an unknown device") + ".";
  }

  // Where focus was before the prompt opened: it goes back there when the prompt closes, if it
  // was in the prompt (or lost) at that moment.
  var before = null;

  function close() {
    if (open) {
      var inside = open.contains(document.activeElement) || document.activeElement === document.body;
      open.remove();
      open = null;
      if (inside) {
        var back = before && before !== document.body && document.contains(before) ? before : document.getElementById("main");
        if (back) {
          back.focus();
        }
      }
      before = null;
    }
  }

  function send(a, decision, number, status) {
    var body = new URLSearchParams();
    body.set("csrf", csrfInput.value);
    body.set("decision", decision);
    if (number) {
      body.set("number", number);
    }
    return fetch("/account/approvals/" + encodeURIComponent(a.id), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString(),
    }).then(
      function (r) {
        answered[a.id] = true;
        if (r.status === 204) {
          status.textContent = decision === "approve" ? "Approved." : "Refused. We told you by email, and paused these requests for a while.";
          window.setTimeout(close, 2500);
          return;
        }
        // the request is over either way (a wrong number refuses it): the message stays a
        // while, then the prompt makes way for the next request
        return r
          .json()
          .catch(function () {
            return {};
          })
          .then(function (p) {
            status.textContent = p.message || "That did not work.";
            window.setTimeout(close, 8000);
          });
      },
      function () {
        status.textContent = "We could not reach the server. Check your connection and try again.";
        return "retry";
      }
    );
  }

  function show(a) {
    var dialog = el("div", { role: "dialog", "aria-modal": "true", "aria-labelledby": "approval-title", "aria-describedby": "approval-text", class: "card narrow approval-dialog", id: "approval-dialog" });
    dialog.appendChild(el("h2", { id: "approval-title", tabindex: "-1" }, "Is this you?"));
    dialog.appendChild(el("p", { id: "approval-text" }, describe(a)));
    var form = el("form", { novalidate: "" });
    form.appendChild(el("label", { for: "approval-number" }, "The number shown on the other screen"));
    var input = el("input", { id: "approval-number", name: "number", type: "text", inputmode: "numeric", pattern: "[0-9]{2}", maxlength: "2", autocomplete: "off", "aria-describedby": "approval-status" });
    form.appendChild(input);
    var status = el("p", { id: "approval-status", role: "status", "aria-live": "polite" });
    var actions = el("div", { class: "actions" });
    var approve = el("button", { type: "submit", class: "primary" }, "Approve");
    var deny = el("button", { type: "button", class: "secondary" }, "This wasn't me");
    actions.appendChild(approve);
    actions.appendChild(deny);
    form.appendChild(actions);
    form.appendChild(status);
    dialog.appendChild(form);
    var title = dialog.firstChild;
    // while the answer travels the buttons are off; focus stays in the prompt (on its title)
    // so that the outcome is read out where the person is
    function answer(decision, number) {
      approve.disabled = deny.disabled = true;
      title.focus();
      send(a, decision, number, status).then(function (outcome) {
        if (outcome === "retry") {
          approve.disabled = deny.disabled = false;
        }
      });
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!/^[0-9]{2}$/.test(input.value.trim())) {
        status.textContent = "Enter the two-digit number the other screen shows.";
        input.focus();
        return;
      }
      answer("approve", input.value.trim());
    });
    deny.addEventListener("click", function () {
      answer("deny", null);
    });
    dialog.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        answered[a.id] = true;
        close();
        return;
      }
      // a modal prompt: Tab goes round its own controls
      if (event.key === "Tab") {
        var stops = Array.prototype.filter.call(dialog.querySelectorAll("input, button"), function (e) {
          return !e.disabled;
        });
        if (!stops.length) {
          event.preventDefault();
          return;
        }
        var first = stops[0];
        var last = stops[stops.length - 1];
        if (event.shiftKey && (document.activeElement === first || document.activeElement === title)) {
          event.preventDefault();
          last.focus();
        } else if (!event.shiftKey && document.activeElement === last) {
          event.preventDefault();
          first.focus();
        }
      }
    });
    var main = document.getElementById("main") || document.body;
    before = document.activeElement;
    main.insertBefore(dialog, main.firstChild);
    open = dialog;
    input.focus();
  }

  function poll() {
    if (open || document.hidden) {
      return;
    }
    fetch("/account/approvals", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.ok ? r.json() : { items: [] };
      })
      .then(function (list) {
        var next = (list.items || []).filter(function (a) {
          return !answered[a.id];
        })[0];
        if (next && !open) {
          show(next);
        }
      })
      .catch(function () {});
  }

  if (csrfInput && window.fetch) {
    poll();
    window.setInterval(poll, 4000);
  }

  // The waiting side: a form marked data-push-poll is sent again every few seconds.
  document.querySelectorAll("form[data-push-poll]").forEach(function (form) {
    var secs = parseInt(form.getAttribute("data-push-poll"), 10) || 3;
    window.setTimeout(function () {
      form.submit();
    }, secs * 1000);
  });
})();
