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
