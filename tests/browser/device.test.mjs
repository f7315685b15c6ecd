// The device authorization grant (RFC 8628) end to end: a "TV" is Node's openid-client (panva's,
// which this project did not write) asking for a sign-in and polling the token endpoint, while
// its person, in headless Chromium, follows the link, signs in on Deadbolt's hosted pages with
// a password and an authenticator-app code (computed by harness.mjs, not the server), checks
// what asks on the device page and approves or denies it. Each test has its own server
// (harness.mjs) and registers its client with `deadbolt clients create` against the same
// database, as oidc.test.mjs does.
//
//   cd tests/browser && npm ci && node --test device.test.mjs
//
// SCREENSHOTS=1 also writes docs/screenshots/device-*.png.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import * as oidc from "openid-client";
import { Deadbolt, PASSWORD, binary, browser, freshCode, screenshotsDir } from "./harness.mjs";

const shots = process.env.SCREENSHOTS === "1";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Math.floor(Date.now() / 1000);

/** What the device says it is (its User-Agent), as its person is shown it. */
const TV = "LivingRoomTV/2.1 (Tizen 7.0)";
const CLIENT_NAME = "Cinema at home";
const SCOPE = "openid email offline_access";
const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
/** RFC 8628 section 6.1's alphabet, as Deadbolt draws user codes from it: BCDF-GHJK. */
const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;

async function shot(page, name) {
  if (!shots) return;
  await page.screenshot({ path: join(screenshotsDir(), `${name}.png`), fullPage: true });
}

/** Waits (polling every 100 ms) until `check()` is truthy; fails after `ms` saying `what`. */
async function until(what, check, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await sleep(100);
  }
}

// ---- the provider's side: the device's client and a person ----

/** A public client allowed the device grant, registered with `deadbolt clients create`. */
function registerDeviceClient(db, name = CLIENT_NAME) {
  const args = ["clients", "create", "--name", name, "--public"];
  args.push("--grant", "device_code", "--grant", "refresh_token");
  const r = spawnSync(binary(), args, { env: db.env, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`clients create failed: ${r.stderr}`);
  const made = JSON.parse(r.stdout.trim().split("\n").pop());
  assert.match(made.client_id, /^dbc_/);
  assert.equal(made.client_secret, undefined, "a public client has no secret");
  return made;
}

async function api(db, method, path, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(`${db.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** An account with a verified email and TOTP on, made through the API (as oidc.test.mjs does;
 * the pages that do it are tested in pages.test.mjs); the app's key. */
async function personWithTotp(db, email) {
  const made = await api(db, "POST", "/v1/accounts", { email, password: PASSWORD });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const verified = await api(db, "POST", "/v1/accounts/verify", { email, channel: "email", code: await db.mail.code(email) });
  assert.equal(verified.status, 200, JSON.stringify(verified.body));
  const login = await api(db, "POST", "/v1/login", { email, password: PASSWORD });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  const token = login.body.access_token;
  const started = await api(db, "POST", "/v1/me/mfa/totp", {}, token);
  assert.equal(started.status, 201, JSON.stringify(started.body));
  const { method_id, secret } = started.body;
  const confirmed = await api(db, "POST", `/v1/me/mfa/${method_id}/confirm`, { code: await freshCode(secret) }, token);
  assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
  await api(db, "POST", "/v1/logout", {}, token);
  return secret;
}

/** On Deadbolt's sign-in page: email and password, then the app's code. */
async function signInOnPages(page, db, email, secret) {
  await page.waitForURL((u) => u.origin === db.url && u.pathname === "/sign-in");
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL(/\/sign-in\/verify/);
  await page.getByLabel("6-digit code from your authenticator app").fill(await freshCode(secret));
  await page.getByRole("button", { name: "Continue" }).click();
}

/** Opens /device not signed in, signs in, and is back at /device. */
async function signedInAtDevicePage(page, db, email, secret, link = `${db.url}/device`) {
  await page.goto(link);
  await signInOnPages(page, db, email, secret);
  await page.waitForURL((u) => u.origin === db.url && u.pathname === "/device");
}

// ---- the device's side ----

/**
 * openid-client's view of Deadbolt for the device's public client. Every request goes out with
 * the device's User-Agent, and every answer of the token endpoint is noted in `answers` ("tokens"
 * or its error code), through the library's own fetch hook. `beforePoll`, if given, runs before
 * each poll is sent.
 */
async function deviceClient(db, client, answers = [], beforePoll) {
  const config = await oidc.discovery(new URL(db.url), client.client_id, {}, oidc.None(), {
    // plain http on loopback in tests; and ID token signatures checked against the JWKS
    execute: [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks],
  });
  const tokenEndpoint = config.serverMetadata().token_endpoint;
  config[oidc.customFetch] = async (url, options) => {
    const headers = new Headers(options.headers);
    headers.set("user-agent", TV);
    const polling = url === tokenEndpoint && new URLSearchParams(options.body).get("grant_type") === DEVICE_GRANT;
    if (polling && beforePoll) await beforePoll();
    const r = await fetch(url, { ...options, headers });
    if (polling) answers.push(r.ok ? "tokens" : (await r.clone().json()).error);
    return r;
  };
  return config;
}

/** The library polling in the background; aborted when the scenario ends. */
function pollInBackground(config, started, cleanup) {
  const stop = new AbortController();
  cleanup(() => stop.abort());
  const polling = oidc.pollDeviceAuthorizationGrant(config, started, undefined, { signal: stop.signal });
  polling.catch(() => {}); // awaited later; a failure before that is the test's, not this
  return polling;
}

/** A poll by hand, as a device that ignores the interval would: {status, error, description}. */
async function pollByHand(db, client, deviceCode) {
  const r = await fetch(`${db.url}/oauth2/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "user-agent": TV },
    body: new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: client.client_id }),
  });
  const body = await r.json();
  return { status: r.status, error: body.error, description: body.error_description ?? "" };
}

const isError = (code) => (e) => {
  assert.ok(e instanceof oidc.ResponseBodyError, `${e.name}: ${e.message}`);
  assert.equal(e.error, code, `expected ${code}, got ${e.error}: ${e.error_description ?? ""}`);
  return true;
};

// ---- the person's side: the device page ----

/** The code field's state, as assistive technology sees it. */
async function codeField(page) {
  const field = page.getByLabel("Code from your device");
  return {
    field,
    value: await field.inputValue(),
    invalid: await field.getAttribute("aria-invalid"),
    describedBy: (await field.getAttribute("aria-describedby")) ?? "",
  };
}

/** Types `code` on the device page and presses Continue. */
async function typeCode(page, db, code) {
  if (new URL(page.url()).pathname !== "/device") await page.goto(`${db.url}/device`);
  await page.getByLabel("Code from your device").fill(code);
  await page.getByRole("button", { name: "Continue" }).click();
}

/** The error the page announces: its summary (role=alert, focused) and the field's own. */
async function shownError(page) {
  const summary = page.getByRole("alert");
  await summary.waitFor();
  assert.equal(await summary.getAttribute("id"), "error-summary");
  await until("the error summary has focus", () => page.evaluate(() => document.activeElement?.id === "error-summary"), 5000);
  const f = await codeField(page);
  assert.equal(f.invalid, "true", "the field is marked invalid");
  assert.ok(f.describedBy.split(" ").includes("user_code-error"), `the field is described by its error: ${f.describedBy}`);
  const own = await page.locator("#user_code-error").innerText();
  const text = await summary.innerText();
  // the summary's message links to the field
  assert.equal(await summary.getByRole("link").getAttribute("href"), "#user_code");
  return { text, own, value: f.value };
}

/** Layout and labels at the current viewport: no sideways scroll, every input labelled. */
async function fitsAndLabelled(page, what) {
  const { scroll, view } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, view: window.innerWidth }));
  assert.ok(scroll <= view, `${what} is ${scroll}px wide at ${view}px`);
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea")]
      .filter((e) => e.type !== "hidden")
      .filter((e) => {
        const byLabel = [...(e.labels ?? [])].some((l) => l.textContent.trim() !== "");
        return !byLabel && !e.getAttribute("aria-label") && !e.getAttribute("aria-labelledby");
      })
      .map((e) => e.outerHTML),
  );
  assert.deepEqual(unlabelled, [], `${what}: inputs without a label`);
}

/** On a page just loaded, presses Tab until `id` has focus: the ids (or text) passed on the way. */
async function tabTo(page, id) {
  const seen = [];
  for (let i = 0; i < 30; i++) {
    await page.keyboard.press("Tab");
    const at = await page.evaluate(() => {
      const e = document.activeElement;
      return e ? e.id || e.textContent.trim() : "";
    });
    seen.push(at);
    if (at === id) return seen;
  }
  assert.fail(`Tab never reached #${id}: ${JSON.stringify(seen)}`);
}

/** Runs `body` with a server, a browser and things to close, screenshotting a failure. */
async function scenario(body, { env = {}, viewport } = {}) {
  const db = await Deadbolt.start(env);
  const { page, close } = await browser({ viewport });
  const cleanups = [];
  let failed = true;
  try {
    await body({ db, page, cleanup: (f) => cleanups.push(f) });
    failed = false;
  } finally {
    for (const f of cleanups.reverse()) await f();
    await close(failed);
    await db.stop();
  }
}

// ---- a. approved ----

test("openid-client's device flow: while it polls, the person follows the link, signs in with password and TOTP, checks the device and approves; the library gets tokens it validated (aal2, otp and mfa), and userinfo answers", async () => {
  await scenario(async ({ db, page, cleanup }) => {
    const client = registerDeviceClient(db);
    const email = "viewer@example.com";
    const secret = await personWithTotp(db, email);
    const answers = [];
    const config = await deviceClient(db, client, answers);
    assert.equal(config.serverMetadata().device_authorization_endpoint, `${db.url}/oauth2/device_authorization`);
    assert.ok(config.serverMetadata().grant_types_supported.includes(DEVICE_GRANT));

    const started = await oidc.initiateDeviceAuthorization(config, { scope: SCOPE });
    assert.match(started.user_code, USER_CODE);
    assert.equal(started.verification_uri, `${db.url}/device`);
    assert.equal(started.verification_uri_complete, `${db.url}/device?user_code=${started.user_code}`);
    assert.equal(started.expires_in, 600);
    assert.equal(started.interval, 5);
    const polling = pollInBackground(config, started, cleanup);

    // the person opens the link (the QR code the TV shows): not signed in, so the sign-in first
    await signedInAtDevicePage(page, db, email, secret, started.verification_uri_complete);
    // back with the code filled in, and nothing looked up before Continue (RFC 8628 5.4)
    assert.equal((await codeField(page)).value, started.user_code);
    assert.doesNotMatch(await page.locator("main").innerText(), new RegExp(CLIENT_NAME));
    await shot(page, "device-code");
    await page.getByRole("button", { name: "Continue" }).click();

    // the review: the client's name, the code, the device's address, program and time
    await page.getByRole("heading", { name: `Sign in ${CLIENT_NAME} on a device?` }).waitFor();
    assert.equal(await page.locator("#shown-code").innerText(), started.user_code);
    assert.equal(await page.locator("#device-ip").innerText(), "127.0.0.1");
    assert.equal(await page.locator("#device-agent").innerText(), TV);
    assert.equal(await page.locator("#device-place").innerText(), "Not known", "no location database here");
    const asked = (await page.locator("#requested-at").innerText()).match(/^(\d{4}-\d\d-\d\d \d\d:\d\d) UTC$/);
    assert.ok(asked, "the time it asked, in UTC");
    assert.ok(Math.abs(Date.parse(`${asked[1]}:00Z`) / 1000 - now()) < 120, "and that time is now");
    const scopes = await page.locator("#scopes li").allInnerTexts();
    assert.deepEqual(scopes, ["Know who you are on this service", "See your email address", "Stay signed in to it while you are away"]);
    await shot(page, "device-approve");

    // the library is polling meanwhile, and told to wait
    await until("the library's first poll", () => answers.length > 0);
    assert.equal(answers[0], "authorization_pending");
    await page.getByRole("button", { name: "Approve" }).click();
    await page.getByRole("heading", { name: "Device signed in" }).waitFor();
    assert.match(await page.getByRole("status").innerText(), /Your device is signed in/);
    await shot(page, "device-done");

    // the library's poll resolves with tokens whose ID token it validated (iss, aud, exp,
    // signature against the JWKS)
    const tokens = await polling;
    assert.equal(tokens.token_type.toLowerCase(), "bearer");
    assert.ok(tokens.access_token && tokens.id_token && tokens.refresh_token, "access, ID and refresh tokens");
    const claims = tokens.claims();
    assert.equal(claims.iss, db.url);
    assert.ok([claims.aud].flat().includes(client.client_id));
    assert.equal(claims.acr, "aal2", "the approving sign-in's level");
    for (const m of ["pwd", "otp", "mfa"]) assert.ok(claims.amr.includes(m), `amr ${JSON.stringify(claims.amr)} has ${m}`);
    assert.ok(claims.auth_time <= claims.iat && claims.auth_time > now() - 300, "auth_time is the browser's sign-in");
    assert.equal(claims.email, email);
    // a library that waits the interval is never told to slow down
    assert.deepEqual(answers.slice(0, -1), answers.slice(0, -1).map(() => "authorization_pending"), JSON.stringify(answers));
    assert.equal(answers.at(-1), "tokens");

    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.sub, claims.sub);
    assert.equal(info.email, email);
    // the device stays signed in: its refresh token works
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
    assert.equal((await oidc.fetchUserInfo(config, refreshed.access_token, claims.sub)).sub, claims.sub);
    // and the device code gave its tokens once
    assert.equal((await pollByHand(db, client, started.device_code)).error, "invalid_grant");
  });
});

// ---- b. denied ----

test("openid-client's device flow, denied: the person types the code, denies it, and the library's poll rejects with access_denied; the code then shows nothing", async () => {
  await scenario(async ({ db, page, cleanup }) => {
    const client = registerDeviceClient(db);
    const email = "refuser@example.com";
    const secret = await personWithTotp(db, email);
    const config = await deviceClient(db, client);
    const started = await oidc.initiateDeviceAuthorization(config, { scope: SCOPE });
    const polling = pollInBackground(config, started, cleanup);

    // the plain address, signed in first; the code typed as read, in small letters, no dash
    await signedInAtDevicePage(page, db, email, secret);
    assert.equal((await codeField(page)).value, "", "no code waits");
    await typeCode(page, db, started.user_code.replace("-", "").toLowerCase());
    await page.getByRole("heading", { name: `Sign in ${CLIENT_NAME} on a device?` }).waitFor();
    assert.equal(await page.locator("#shown-code").innerText(), started.user_code);
    await page.getByRole("button", { name: "Deny, this was not me" }).click();
    await page.getByRole("heading", { name: "Request denied" }).waitFor();
    assert.match(await page.getByRole("status").innerText(), /not signed in/);

    await assert.rejects(polling, isError("access_denied"));

    // the answered code is spent: typed again, an error, and no review page
    await typeCode(page, db, started.user_code);
    const shown = await shownError(page);
    assert.match(shown.text, /used already/);
    assert.equal(await page.getByRole("button", { name: "Approve" }).count(), 0);
  });
});

// ---- c. slow_down ----

test("slow_down: polls by hand faster than the interval are told to slow down, the interval growing each time; openid-client, told so once, waits longer and still gets its tokens", async () => {
  await scenario(async ({ db, page, cleanup }) => {
    const client = registerDeviceClient(db);
    const email = "patient@example.com";
    const secret = await personWithTotp(db, email);

    // a device that ignores the interval: three polls at once
    const config = await deviceClient(db, client);
    const rushed = await oidc.initiateDeviceAuthorization(config, { scope: SCOPE });
    const first = await pollByHand(db, client, rushed.device_code);
    assert.deepEqual([first.status, first.error], [400, "authorization_pending"]);
    const second = await pollByHand(db, client, rushed.device_code);
    assert.deepEqual([second.status, second.error], [400, "slow_down"]);
    assert.match(second.description, /\b10 seconds\b/, "the interval is now 5 + 5 seconds");
    const third = await pollByHand(db, client, rushed.device_code);
    assert.deepEqual([third.status, third.error], [400, "slow_down"]);
    assert.match(third.description, /\b15 seconds\b/, "and grows again");

    // the library on a request of its own; a poll by hand goes just before its first one
    // (a second copy of the app, say), so that first one comes too soon after it
    const answers = [];
    let hand;
    const library = await deviceClient(db, client, answers, async () => {
      if (hand === undefined) hand = await pollByHand(db, client, started.device_code);
    });
    const started = await oidc.initiateDeviceAuthorization(library, { scope: SCOPE });
    const polling = pollInBackground(library, started, cleanup);
    await until("the library's first poll", () => answers.length > 0);
    assert.equal(hand.error, "authorization_pending", "the poll by hand was in time");
    assert.equal(answers[0], "slow_down", "the library's first poll came too soon after it");

    // the person approves while the library keeps polling
    await signedInAtDevicePage(page, db, email, secret, started.verification_uri_complete);
    await page.getByRole("button", { name: "Continue" }).click();
    await page.getByRole("button", { name: "Approve" }).click();
    await page.getByRole("heading", { name: "Device signed in" }).waitFor();

    const tokens = await polling;
    assert.equal(tokens.claims().acr, "aal2");
    // after the one slow_down the library waited the longer interval, and was never told again
    assert.equal(answers.at(-1), "tokens");
    assert.deepEqual(
      answers.slice(1, -1),
      answers.slice(1, -1).map(() => "authorization_pending"),
      `the library's answers: ${JSON.stringify(answers)}`,
    );
  });
});

// ---- d. guessed codes ----

test("wrong user codes on the device page: each one announced (role=alert, aria-invalid), and after five even the right code is refused as too many", async () => {
  await scenario(async ({ db, page }) => {
    const client = registerDeviceClient(db);
    const email = "guesser@example.com";
    const secret = await personWithTotp(db, email);
    const config = await deviceClient(db, client);
    const started = await oidc.initiateDeviceAuthorization(config, { scope: SCOPE });
    const right = started.user_code;
    // codes of the right form that are not this one: its letters turned around
    const wrong = [1, 2, 3, 4, 5].map((k) => {
      const letters = right.replace("-", "");
      const turned = letters.slice(k) + letters.slice(0, k);
      const other = turned === letters ? letters.split("").reverse().join("") : turned;
      return `${other.slice(0, 4)}-${other.slice(4)}`;
    });
    for (const w of wrong) assert.notEqual(w, right);

    await signedInAtDevicePage(page, db, email, secret);
    for (const [i, w] of wrong.entries()) {
      await typeCode(page, db, w);
      const shown = await shownError(page);
      assert.match(shown.text, /That code is not right/, `wrong code ${i + 1}`);
      assert.match(shown.own, /That code is not right/);
      assert.equal(shown.value, w, "the typed code stays in the field to correct");
      assert.match(await page.title(), /^Error: /, "the title says there is an error");
      if (i === 0) await shot(page, "device-code-error");
    }

    // the account's limit is reached: the right code now gets the same refusal, not the review
    await typeCode(page, db, right);
    const refused = await shownError(page);
    assert.match(refused.text, /Too many attempts\. Try again in/);
    assert.equal(await page.getByRole("button", { name: "Approve" }).count(), 0);
    assert.doesNotMatch(await page.locator("main").innerText(), new RegExp(CLIENT_NAME));
    // and the device still waits, unapproved
    assert.equal((await pollByHand(db, client, started.device_code)).error, "authorization_pending");
  });
});

// ---- e. a phone-sized screen, and the keyboard ----

test("at 375 px: the entry, review and done pages fit, every input is labelled, and Approve and Deny are reached by Tab, in that order, and pressed from the keyboard", async () => {
  await scenario(
    async ({ db, page }) => {
      const client = registerDeviceClient(db);
      const email = "phone@example.com";
      const secret = await personWithTotp(db, email);
      const ask = async () => {
        // a long User-Agent, as a real TV sends, and shown on the review page
        const r = await fetch(`${db.url}/oauth2/device_authorization`, {
          method: "POST",
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            "user-agent": "Mozilla/5.0 (SMART-TV; LINUX; Tizen 7.0) AppleWebKit/537.36 (KHTML, like Gecko) 7.0 TV Safari/537.36",
          },
          body: new URLSearchParams({ client_id: client.client_id, scope: SCOPE }),
        });
        assert.equal(r.status, 200);
        return r.json();
      };
      const denied = await ask();
      const approved = await ask();

      await signedInAtDevicePage(page, db, email, secret);
      assert.equal(page.viewportSize().width, 375);
      await fitsAndLabelled(page, "the entry page");
      // a wrong code: the error fits too
      await typeCode(page, db, "QQQQ-QQQQ" === denied.user_code ? "ZZZZ-ZZZZ" : "QQQQ-QQQQ");
      await shownError(page);
      await fitsAndLabelled(page, "the entry page with an error");

      // the keyboard alone: type the code, Enter submits
      await page.getByLabel("Code from your device").fill("");
      await page.getByLabel("Code from your device").focus();
      await page.keyboard.type(denied.user_code);
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { name: `Sign in ${CLIENT_NAME} on a device?` }).waitFor();
      await fitsAndLabelled(page, "the review page");
      assert.match(await page.locator("#device-agent").innerText(), /^Mozilla\/5\.0 \(SMART-TV/);
      await shot(page, "device-approve-mobile");

      // Tab from the top: the skip link, the header, then Approve, and Deny right after it
      assert.deepEqual(await tabTo(page, "approve"), ["Skip to main content", "Deadbolt", "Security", "sign-out", "approve"]);
      await page.keyboard.press("Tab");
      assert.equal(await page.evaluate(() => document.activeElement?.id), "deny", "Deny comes right after Approve");
      // Enter on Deny
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { name: "Request denied" }).waitFor();
      await fitsAndLabelled(page, "the denied page");

      // the other request: back to Approve with Shift+Tab from Deny, and Space presses it
      await typeCode(page, db, approved.user_code);
      await page.getByRole("heading", { name: `Sign in ${CLIENT_NAME} on a device?` }).waitFor();
      await tabTo(page, "deny");
      await page.keyboard.press("Shift+Tab");
      assert.equal(await page.evaluate(() => document.activeElement?.id), "approve");
      await page.keyboard.press("Space");
      await page.getByRole("heading", { name: "Device signed in" }).waitFor();
      await fitsAndLabelled(page, "the done page");

      // what the keys did, as the devices see it
      const poll = (d) => pollByHand(db, client, d.device_code);
      assert.equal((await poll(denied)).error, "access_denied");
      const got = await fetch(`${db.url}/oauth2/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: approved.device_code, client_id: client.client_id }),
      });
      assert.equal(got.status, 200, "the approved device gets its tokens");
      assert.ok((await got.json()).access_token);
    },
    { viewport: { width: 375, height: 812 } },
  );
});
