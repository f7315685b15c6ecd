// Deadbolt's hosted pages in a real browser: headless Chromium (Debian's package) driven by
// playwright-core against the real `deadbolt` binary, with its mail caught by a real SMTP
// server and TOTP codes computed here (harness.mjs), not by the server's code.
//
//   cd tests/browser && npm ci && node --test
//
// DEADBOLT_BIN names the binary (default: the debug build); SCREENSHOTS=1 also writes the
// screenshots under docs/screenshots/ that the README shows.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Deadbolt, PASSWORD, browser, freshCode, hotp, repo, screenshotsDir, totpAt } from "./harness.mjs";

const shots = process.env.SCREENSHOTS === "1";

async function shot(page, name) {
  if (!shots) return;
  await page.screenshot({ path: join(screenshotsDir(), `${name}.png`), fullPage: true });
}

// ---- flows, as a person would click them ----

async function signUp(page, db, email) {
  await page.goto(`${db.url}/sign-up`);
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Check your email" }).waitFor();
  await shot(page, "sign-up-verify");
  const code = await db.mail.code(email);
  await page.getByLabel("Code from the email").fill(code);
  await page.getByRole("button", { name: "Verify email" }).click();
  await page.waitForURL(/\/sign-in\?notice=verified$/);
  assert.match(await page.locator("#notice").innerText(), /email is verified/);
}

async function signIn(page, db, email, password = PASSWORD) {
  await page.goto(`${db.url}/sign-in`);
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

async function signOut(page) {
  await page.getByRole("button", { name: "Sign out" }).first().click();
  await page.waitForURL(/\/sign-in\?notice=signed-out$/);
}

/** Enrolls an authenticator app from the account page; returns its key and recovery codes. */
async function enrollTotp(page, db, { screenshots = false, enrollmentOnly = false } = {}) {
  await page.goto(`${db.url}/account/mfa/new`);
  if (screenshots) await shot(page, "enroll-choose");
  await page.getByRole("button", { name: "Set up authenticator app" }).click();
  await page.getByRole("heading", { name: "Set up your authenticator app" }).waitFor();
  // the QR code is drawn inline and the key is there to type by hand
  assert.equal(await page.locator(".qr svg").count(), 1);
  if (screenshots) await shot(page, "enroll-totp");
  const secret = (await page.locator("#totp-secret").innerText()).replace(/\s+/g, "");
  assert.match(secret, /^[A-Z2-7]{32}$/);
  // a wrong code first: announced, linked to the field, focused
  await page.getByLabel("6-digit code from the app").fill("000000" === totpAt(secret, Date.now() / 1000) ? "111111" : "000000");
  await page.getByRole("button", { name: "Confirm" }).click();
  await page.locator("#error-summary").waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), "error-summary");
  assert.equal(await page.getByLabel("6-digit code from the app").getAttribute("aria-invalid"), "true");
  await page.getByLabel("6-digit code from the app").fill(await freshCode(secret));
  await page.getByRole("button", { name: "Confirm" }).click();
  await page.getByRole("heading", { name: "Save your recovery codes" }).waitFor();
  const codes = await page.locator("#recovery-codes li").allInnerTexts();
  assert.equal(codes.length, 10);
  for (const c of codes) assert.match(c, /^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/);
  // copy, download and print are offered (the script shows them); finishing waits for the box
  for (const name of ["Copy", "Download", "Print"]) {
    assert.ok(await page.getByRole("button", { name }).isVisible(), `${name} is shown`);
  }
  if (screenshots) await shot(page, "recovery-codes");
  const download = page.waitForEvent("download");
  await page.getByRole("button", { name: "Download" }).click();
  const file = await download;
  const saved = readFileSync(await file.path(), "utf8");
  for (const c of codes) assert.ok(saved.includes(c), "the download holds every code");
  const finish = page.getByRole("button", { name: enrollmentOnly ? "Finish and sign in again" : "Finish" });
  assert.ok(await finish.isDisabled());
  await page.getByLabel("I have saved my recovery codes").check();
  await finish.click();
  await page.waitForURL(enrollmentOnly ? /\/sign-in\?notice=signed-out$/ : /\/account\?notice=mfa-on$/);
  return { secret, codes };
}

let db;
before(async () => {
  db = await Deadbolt.start();
});
after(async () => {
  await db?.stop();
});

test("TOTP vectors of RFC 6238 (the tests' own implementation)", () => {
  const { vectors } = JSON.parse(readFileSync(join(repo, "crates/deadbolt-core/tests/data/rfc6238-vectors.json"), "utf8"));
  for (const v of vectors) {
    const key = Buffer.from(v.secret_ascii, "ascii");
    const algorithm = v.algorithm.toLowerCase();
    assert.equal(hotp(key, Math.floor(v.time / v.period), v.digits, algorithm), v.code);
  }
  assert.ok(vectors.length >= 18);
});

test("every page answers with the strict CSP and refuses a cross-site form", async () => {
  const r = await fetch(`${db.url}/sign-in`);
  assert.equal(r.status, 200);
  const csp = r.headers.get("content-security-policy");
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(r.headers.get("x-content-type-options"), "nosniff");
  const cookie = r.headers.get("set-cookie");
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Lax/);
  const html = await r.text();
  assert.doesNotMatch(html, /<script>|style=|onclick=/i, "no inline script or style");
  // a form posted from another site: refused even with a token
  const token = html.match(/name="csrf" value="([0-9a-f]+)"/)[1];
  const nonce = cookie.match(/deadbolt-csrf=([0-9a-f]+)/)[1];
  const forged = await fetch(`${db.url}/sign-in`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      cookie: `deadbolt-csrf=${nonce}`,
      origin: "https://evil.example",
    },
    body: `csrf=${token}&email=a%40b.example&password=x`,
    redirect: "manual",
  });
  assert.equal(forged.status, 403);
  // and without the token, from our own origin
  const tokenless = await fetch(`${db.url}/sign-in`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: `deadbolt-csrf=${nonce}`, origin: db.url },
    body: "email=a%40b.example&password=x",
    redirect: "manual",
  });
  assert.equal(tokenless.status, 403);
});

test("sign up, enroll TOTP, sign out, sign in with a TOTP code and trust the device, then a recovery code", async () => {
  const { page, close } = await browser();
  try {
    const email = "ada@example.com";
    await page.goto(`${db.url}/sign-up`);
    await shot(page, "sign-up");
    await signUp(page, db, email);
    await shot(page, "sign-in");

    // a wrong password: the error is announced and focused, the email kept
    await signIn(page, db, email, "not the password at all");
    await page.locator("#error-summary").waitFor();
    assert.match(await page.locator("#error-summary").innerText(), /Wrong email or password/);
    assert.equal(await page.getByLabel("Email address").inputValue(), email);
    await shot(page, "sign-in-error");

    await signIn(page, db, email);
    await page.waitForURL(/\/account$/);
    assert.match(await page.locator("main").innerText(), /Two-step sign-in is off/);
    const { secret, codes } = await enrollTotp(page, db, { screenshots: true });
    assert.match(await page.locator("#notice").innerText(), /Two-step sign-in is on/);
    assert.equal(await page.locator('#methods tr[data-method-type="totp"]').count(), 1);
    await signOut(page);
    // the session cookie is gone and the old session is revoked
    await page.goto(`${db.url}/account`);
    await page.waitForURL(/\/sign-in$/);

    // sign in: the second step asks for the app's code
    await signIn(page, db, email);
    await page.waitForURL(/\/sign-in\/verify/);
    await page.getByLabel("6-digit code from your authenticator app").waitFor();
    await shot(page, "challenge-totp");
    await page.getByLabel("6-digit code from your authenticator app").fill("123456" === totpAt(secret, Date.now() / 1000) ? "654321" : "123456");
    await page.getByRole("button", { name: "Continue" }).click();
    await page.locator("#error-summary").waitFor();
    assert.match(await page.locator("#error-summary").innerText(), /not right\. 4 more tries/);
    await shot(page, "challenge-error");
    await page.getByLabel("6-digit code from your authenticator app").fill(await freshCode(secret));
    await page.getByLabel("Trust this device").check();
    await page.getByRole("button", { name: "Continue" }).click();
    await page.waitForURL(/\/account$/);
    const cookies = await page.context().cookies();
    const device = cookies.find((c) => c.name === "deadbolt-device");
    assert.ok(device, "a trusted-device cookie was set");
    assert.ok(device.httpOnly, "HttpOnly");
    assert.equal(device.sameSite, "Lax");
    assert.ok(device.expires > Date.now() / 1000 + 29 * 86400, "lasts the trusted days");
    const session = cookies.find((c) => c.name === "deadbolt-session");
    assert.ok(session?.httpOnly);
    assert.equal(await page.locator("#devices tbody tr").count(), 1);
    await shot(page, "account");
    await page.setViewportSize({ width: 375, height: 800 });
    await shot(page, "account-phone");
    await page.setViewportSize({ width: 1100, height: 900 });

    // the trusted device skips the second step
    await signOut(page);
    await signIn(page, db, email);
    await page.waitForURL(/\/account$/);

    // forget the device, sign out: the second step is back, and a recovery code serves once
    await page.getByRole("button", { name: /Forget.*this device/ }).click();
    await page.waitForURL(/notice=device-revoked/);
    await signOut(page);
    await signIn(page, db, email);
    await page.waitForURL(/\/sign-in\/verify/);
    await page.locator("summary", { hasText: "Use another method" }).click();
    await page.getByRole("link", { name: /Recovery code/ }).click();
    await page.getByLabel("Recovery code").fill(codes[3].toUpperCase());
    await page.getByRole("button", { name: "Continue" }).click();
    await page.waitForURL(/\/account$/);
    assert.match(await page.locator("#codes-remaining").innerText(), /9/);
    await signOut(page);
    // the same recovery code again: refused
    await signIn(page, db, email);
    await page.waitForURL(/\/sign-in\/verify/);
    // the method last used on this browser (the app) comes first, not the recovery code
    await page.getByLabel("6-digit code from your authenticator app").waitFor();
    await page.locator("summary", { hasText: "Use another method" }).click();
    await page.getByRole("link", { name: /Recovery code/ }).click();
    await page.getByLabel("Recovery code").fill(codes[3]);
    await page.getByRole("button", { name: "Continue" }).click();
    await page.locator("#error-summary").waitFor();
    assert.match(await page.locator("#error-summary").innerText(), /not right/);
  } catch (e) {
    await close(true);
    throw e;
  }
  await close();
});

test("the step-up dialog guards removing a method, and the keyboard alone gets through it", async () => {
  const { page, close } = await browser();
  try {
    const email = "grace@example.com";
    await signUp(page, db, email);
    await signIn(page, db, email);
    await page.waitForURL(/\/account$/);
    const { secret } = await enrollTotp(page, db);
    // remove the app: the dialog asks for a code first
    await page.getByRole("button", { name: /Remove.*Authenticator app/ }).click();
    await page.waitForURL(/\/step-up\?op=remove-method/);
    await page.getByRole("dialog", { name: "Confirm it's you" }).waitFor();
    await shot(page, "step-up");
    // keyboard only: the skip link first, then into the form
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Skip to main content");
    const field = page.getByLabel("6-digit code from your authenticator app");
    await field.focus();
    await page.keyboard.type("000000" === totpAt(secret, Date.now() / 1000) ? "111111" : "000000");
    await page.keyboard.press("Enter");
    await page.locator("#error-summary").waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), "error-summary");
    // the method is still there
    await page.goto(`${db.url}/account`);
    assert.equal(await page.locator('#methods tr[data-method-type="totp"]').count(), 1);
    await page.getByRole("button", { name: /Remove.*Authenticator app/ }).click();
    await page.waitForURL(/\/step-up\?op=remove-method/);
    await page.getByLabel("6-digit code from your authenticator app").fill(await freshCode(secret));
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/account\?notice=removed$/);
    assert.equal(await page.locator('#methods tr[data-method-type="totp"]').count(), 0);
    assert.match(await page.locator("main").innerText(), /Two-step sign-in is off/);
  } catch (e) {
    await close(true);
    throw e;
  }
  await close();
});

test("forgot password: the emailed code, then the second factor, then the new password", async () => {
  const { page, close } = await browser();
  try {
    const email = "hedy@example.com";
    await signUp(page, db, email);
    await signIn(page, db, email);
    await page.waitForURL(/\/account$/);
    const { secret } = await enrollTotp(page, db);
    await signOut(page);
    await page.getByRole("link", { name: "Forgot your password?" }).click();
    await shot(page, "reset");
    await page.getByLabel("Email address").fill(email);
    await page.getByRole("button", { name: "Send a code" }).click();
    await page.getByLabel("Code from the email").waitFor();
    await shot(page, "reset-code");
    await page.getByLabel("Code from the email").fill(await db.mail.code(email));
    await page.getByRole("button", { name: "Continue" }).click();
    await page.waitForURL(/\/forgot-password\/new$/);
    await shot(page, "reset-new-password");
    const newPassword = "quartz lantern obliging meadow";
    await page.getByLabel("New password").fill(newPassword);
    await page.getByLabel("6-digit code from your authenticator app").fill("000000" === totpAt(secret, Date.now() / 1000) ? "111111" : "000000");
    await page.getByRole("button", { name: "Change password" }).click();
    await page.locator("#error-summary").waitFor();
    await page.getByLabel("New password").fill(newPassword);
    await page.getByLabel("6-digit code from your authenticator app").fill(await freshCode(secret));
    await page.getByRole("button", { name: "Change password" }).click();
    await page.waitForURL(/\/sign-in\?notice=reset$/);
    await signIn(page, db, email);
    await page.locator("#error-summary").waitFor();
    await signIn(page, db, email, newPassword);
    await page.waitForURL(/\/sign-in\/verify/);
  } catch (e) {
    await close(true);
    throw e;
  }
  await close();
});

test("an admin enrolls as policy demands, changes the policy behind step-up, and resets a user's MFA", async () => {
  const { page, close } = await browser();
  try {
    const email = "root@example.com";
    db.createAdmin(email);
    // policy requires MFA of admins: the first sign-in may only enroll
    await signIn(page, db, email);
    await page.waitForURL(/\/account\/mfa\/new$/);
    await shot(page, "enroll-required");
    await page.goto(`${db.url}/admin`);
    await page.waitForURL(/\/account\/mfa\/new$/);
    const { secret, codes } = await enrollTotp(page, db, { enrollmentOnly: true });
    await signIn(page, db, email);
    await page.getByLabel("6-digit code from your authenticator app").fill(await freshCode(secret));
    await page.getByRole("button", { name: "Continue" }).click();
    await page.waitForURL(/\/account$/);

    // the editor is behind step-up
    await page.getByRole("link", { name: "Admin" }).click();
    await shot(page, "admin");
    await page.getByRole("link", { name: "Open the policy editor" }).click();
    assert.equal(await page.locator("textarea#policy").count(), 0, "no editor before the step-up");
    await page.getByRole("button", { name: "Confirm it's you" }).click();
    await page.waitForURL(/\/step-up\?op=policy$/);
    assert.match(await page.locator("#step-up-what").innerText(), /change the security policy/);
    await page.getByLabel("6-digit code from your authenticator app").fill(await freshCode(secret));
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.waitForURL(/\/admin\/policy$/);
    const editor = page.getByLabel("Policy (JSON)");
    const policy = JSON.parse(await editor.inputValue());
    assert.equal(policy.trusted_device_days, 30);

    // a wrong policy: the field is named, nothing is stored, the step-up is not spent
    await editor.fill(JSON.stringify({ ...policy, trusted_device_days: 0 }, null, 2));
    await page.getByRole("button", { name: "Save policy" }).click();
    await page.locator("#error-summary").waitFor();
    assert.match(await page.locator("#error-summary").innerText(), /trusted_device_days/);
    await shot(page, "admin-policy");
    await page.getByLabel("Policy (JSON)").fill(JSON.stringify({ ...policy, trusted_device_days: 7 }, null, 2));
    await page.getByRole("button", { name: "Save policy" }).click();
    await page.waitForURL(/\/admin\/policy\?notice=policy$/);
    // saved, and the one-shot grant is spent: the editor is closed again
    assert.match(await page.locator("#policy-view").innerText(), /"trusted_device_days": 7/);
    assert.equal(await page.locator("textarea#policy").count(), 0);

    // account lookup and an MFA reset, stepped up with a recovery code this time
    await page.goto(`${db.url}/admin`);
    await page.getByLabel("Email address").fill("hedy@example.com");
    await page.getByRole("button", { name: "Find" }).click();
    await page.locator("#found").waitFor();
    assert.match(await page.locator("#found").innerText(), /hedy@example\.com[\s\S]*On/);
    await shot(page, "admin-lookup");
    await page.getByRole("button", { name: /Reset two-step sign-in/ }).click();
    await page.waitForURL(/\/step-up\?op=admin-mfa-reset/);
    await page.locator("summary", { hasText: "Use another method" }).click();
    await page.getByRole("link", { name: /Recovery code/ }).click();
    await page.getByLabel("Recovery code").fill(codes[0]);
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.waitForURL(/\/admin\?notice=mfa-reset$/);
    await page.getByLabel("Email address").fill("hedy@example.com");
    await page.getByRole("button", { name: "Find" }).click();
    await page.locator("#found").waitFor();
    assert.match(await page.locator("#found").innerText(), /Off/);
    await page.getByRole("button", { name: /Unlock/ }).click();
    await page.waitForURL(/\/admin\?notice=unlocked$/);
    assert.match(await page.locator("#notice").innerText(), /failure counts were cleared/);
    const told = await db.mail.next("hedy@example.com");
    assert.ok(told.subject.length > 0);
  } catch (e) {
    await close(true);
    throw e;
  }
  await close();
});

/** Chromium's virtual authenticator (DevTools WebAuthn domain): a platform passkey with UV. */
async function virtualAuthenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

test("register a passkey with the virtual authenticator; use it as the second factor, to sign in without a password, in the step-up dialog and in a reset", async () => {
  const { page, close } = await browser();
  try {
    const email = "kay@example.com";
    await signUp(page, db, email);
    await signIn(page, db, email);
    await page.waitForURL(/\/account$/);
    const { cdp, authenticatorId } = await virtualAuthenticator(page);

    await page.goto(`${db.url}/account/mfa/new`);
    await page.getByLabel("Name (optional)").fill("Laptop passkey");
    await page.getByRole("button", { name: "Set up security key or passkey" }).click();
    await page.getByRole("heading", { name: "Register your security key or passkey" }).waitFor();
    await shot(page, "enroll-webauthn");
    await page.getByRole("button", { name: "Register" }).click();
    await page.getByRole("heading", { name: "Save your recovery codes" }).waitFor();
    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    assert.equal(credentials.length, 1, "the authenticator holds one credential");
    assert.ok(credentials[0].isResidentCredential, "a discoverable credential (a passkey)");
    await page.getByLabel("I have saved my recovery codes").check();
    await page.getByRole("button", { name: "Finish" }).click();
    await page.waitForURL(/\/account\?notice=mfa-on$/);
    assert.match(await page.locator('#methods tr[data-method-type="webauthn"]').innerText(), /Laptop passkey/);

    // the key as the second factor after the password
    await signOut(page);
    await signIn(page, db, email);
    await page.waitForURL(/\/sign-in\/verify/);
    await shot(page, "challenge-webauthn");
    await page.getByRole("button", { name: "Use your security key" }).click();
    await page.getByRole("button", { name: "Continue with your security key" }).click();
    await page.waitForURL(/\/account$/);
    assert.match(await page.locator('#methods tr[data-method-type="webauthn"]').innerText(), /Laptop passkey[\s\S]*UTC/, "last use shown");

    // usernameless: the passkey alone signs in
    await signOut(page);
    await page.getByRole("button", { name: "Sign in with a passkey" }).click();
    await page.waitForURL(/\/account$/);
    assert.match(await page.locator("#sessions").innerText(), /This browser/);
    const { credentials: after } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    assert.ok(after[0].signCount >= 2, "the authenticator signed twice");

    // the key in the step-up dialog
    await page.getByRole("button", { name: "Make new recovery codes" }).click();
    await page.waitForURL(/\/step-up\?op=regenerate-codes$/);
    await page.getByRole("button", { name: "Use your security key" }).click();
    await page.getByRole("button", { name: "Continue with your security key" }).click();
    await page.getByRole("heading", { name: "Save your recovery codes" }).waitFor();
    await page.getByLabel("I have saved my recovery codes").check();
    await page.getByRole("button", { name: "Finish" }).click();
    await page.waitForURL(/notice=codes$/);

    // and in a password reset, as the second factor
    await signOut(page);
    await page.getByRole("link", { name: "Forgot your password?" }).click();
    await page.getByLabel("Email address").fill(email);
    await page.getByRole("button", { name: "Send a code" }).click();
    await page.getByLabel("Code from the email").fill(await db.mail.code(email));
    await page.getByRole("button", { name: "Continue" }).click();
    await page.waitForURL(/\/forgot-password\/new$/);
    await page.getByRole("button", { name: "Use your security key" }).click();
    const newPassword = "saffron kettle orbit meadowlark";
    await page.getByLabel("New password").fill(newPassword);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.waitForURL(/\/sign-in\?notice=reset$/);
    await signIn(page, db, email, newPassword);
    await page.waitForURL(/\/sign-in\/verify/);

  } catch (e) {
    await close(true);
    throw e;
  }
  await close();
});

test("an emailed code with a resend countdown; the method last used here comes first; password change and deletion behind step-up; a phone-sized screen", async () => {
  const { page, close } = await browser();
  try {
    const email = "lin@example.com";
    await signUp(page, db, email);
    await signIn(page, db, email);
    await page.waitForURL(/\/account$/);
    const { secret, codes } = await enrollTotp(page, db);

    // a second method while MFA is on: the step-up dialog first, then the code by email
    await page.goto(`${db.url}/account/mfa/new`);
    await page.getByRole("button", { name: "Set up code by email" }).click();
    await page.waitForURL(/\/step-up\?op=enroll-email$/);
    await page.getByLabel("6-digit code from your authenticator app").fill(await freshCode(secret));
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.getByRole("heading", { name: "Enter the code we sent" }).waitFor();
    await shot(page, "enroll-email-code");
    await page.getByLabel("Code", { exact: true }).fill(await db.mail.code(email));
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.waitForURL(/\/account\?notice=added$/);
    assert.equal(await page.locator('#methods tr[data-method-type="email"]').count(), 1);

    // sign in with the emailed code: sent on request, resend held back by a countdown
    await signOut(page);
    await signIn(page, db, email);
    await page.waitForURL(/\/sign-in\/verify/);
    await page.getByLabel("6-digit code from your authenticator app").waitFor();
    await page.locator("summary", { hasText: "Use another method" }).click();
    await page.getByRole("link", { name: /^Email/ }).click();
    await page.getByRole("button", { name: "Send me a code" }).click();
    await page.getByText(/We sent a code to l\*+@example\.com/).first().waitFor();
    assert.ok(await page.getByRole("button", { name: "Send a new code" }).isDisabled(), "resend waits");
    assert.match(await page.locator("#send-code-countdown").innerText(), /new code in \d+ s/);
    await shot(page, "challenge-email");
    await page.getByLabel("Code we sent you").fill(await db.mail.code(email));
    await page.getByRole("button", { name: "Continue" }).click();
    await page.waitForURL(/\/account$/);

    // next time, this browser is offered the emailed code first, though the app is primary
    await signOut(page);
    await signIn(page, db, email);
    await page.waitForURL(/\/sign-in\/verify/);
    await page.getByLabel("Code we sent you").waitFor();
    assert.equal(await page.getByLabel("6-digit code from your authenticator app").count(), 0);
    await page.locator("summary", { hasText: "Use another method" }).click();
    await page.getByRole("link", { name: /Authenticator app/ }).click();
    await page.getByLabel("6-digit code from your authenticator app").fill(await freshCode(secret));
    await page.getByRole("button", { name: "Continue" }).click();
    await page.waitForURL(/\/account$/);

    // a phone-sized screen: nothing wider than the screen
    await page.setViewportSize({ width: 375, height: 740 });
    for (const path of ["/account", "/account/mfa/new", "/account/password"]) {
      await page.goto(`${db.url}${path}`);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(wide <= 375, `${path} is ${wide}px wide at 375`);
    }
    await page.setViewportSize({ width: 1100, height: 900 });

    // changing the email starts with the same dialog
    await page.goto(`${db.url}/account/email`);
    await shot(page, "change-email");

    // password change: confirm first (a recovery code, through "use another method"), then the form
    await page.goto(`${db.url}/account/password`);
    await page.getByRole("button", { name: "Confirm it's you" }).click();
    await page.waitForURL(/\/step-up\?op=password$/);
    await page.locator("summary", { hasText: "Use another method" }).click();
    await page.getByRole("link", { name: /Recovery code/ }).click();
    await page.getByLabel("Recovery code").fill(codes[1]);
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.waitForURL(/\/account\/password$/);
    await shot(page, "change-password");
    const newPassword = "velvet harbour tangerine compass";
    await page.getByLabel("Current password").fill("wrong password here");
    await page.getByLabel("New password").fill(newPassword);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.locator("#error-summary").waitFor();
    assert.equal(await page.getByLabel("Current password").getAttribute("aria-invalid"), "true");
    await page.getByLabel("Current password").fill(PASSWORD);
    await page.getByLabel("New password").fill(newPassword);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.waitForURL(/\/account\?notice=password$/);

    // deletion: confirm, tick the box, gone
    await page.goto(`${db.url}/account/delete`);
    await page.getByRole("button", { name: "Confirm it's you" }).click();
    await page.locator("summary", { hasText: "Use another method" }).click();
    await page.getByRole("link", { name: /Recovery code/ }).click();
    await page.getByLabel("Recovery code").fill(codes[2]);
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.waitForURL(/\/account\/delete$/);
    await shot(page, "delete-account");
    await page.getByRole("button", { name: "Delete my account" }).click();
    await page.locator("#error-summary").waitFor();
    await page.getByLabel("I understand my account will be gone for good").check();
    await page.getByRole("button", { name: "Delete my account" }).click();
    await page.waitForURL(/\/sign-in\?notice=deleted$/);
    await signIn(page, db, email, newPassword);
    await page.locator("#error-summary").waitFor();
    assert.match(await page.locator("#error-summary").innerText(), /Wrong email or password/);
  } catch (e) {
    await close(true);
    throw e;
  }
  await close();
});

test("a password step-up without MFA, a new email by its code, another session signed out, a new primary, new recovery codes", async () => {
  const { page, close } = await browser();
  const other = await browser();
  try {
    const email = "max@example.com";
    const newEmail = "max.new@example.com";
    await signUp(page, db, email);
    await signIn(page, db, email);
    await page.waitForURL(/\/account$/);

    // no MFA yet: the dialog asks for the password
    await page.goto(`${db.url}/account/email`);
    await page.getByRole("button", { name: "Confirm it's you" }).click();
    await page.waitForURL(/\/step-up\?op=email$/);
    await page.getByLabel("Password").fill("not my password");
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.locator("#error-summary").waitFor();
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.waitForURL(/\/account\/email$/);
    await page.getByLabel("New email address").fill(newEmail);
    await page.getByRole("button", { name: "Send a code" }).click();
    await page.getByRole("heading", { name: "Confirm your new email address" }).waitFor();
    await page.getByLabel("Code", { exact: true }).fill(await db.mail.code(newEmail));
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.waitForURL(/\/account\?notice=email$/);
    assert.match(await page.locator("main").innerText(), /max\.new@example\.com/);

    // another browser signs in; this one signs it out
    await signIn(other.page, db, newEmail);
    await other.page.waitForURL(/\/account$/);
    await page.goto(`${db.url}/account`);
    assert.equal(await page.locator("#sessions tbody tr").count(), 2);
    const otherRow = page.locator("#sessions tbody tr", { hasNotText: "This browser" });
    await otherRow.getByRole("button", { name: /Sign out/ }).click();
    await page.waitForURL(/notice=session-revoked$/);
    assert.equal(await page.locator("#sessions tbody tr").count(), 1);
    await other.page.goto(`${db.url}/account`);
    await other.page.waitForURL(/\/sign-in$/);

    // MFA on, then an emailed code as a second method made primary
    const { codes } = await enrollTotp(page, db);
    await page.goto(`${db.url}/account/mfa/new`);
    await page.getByRole("button", { name: "Set up code by email" }).click();
    await page.locator("summary", { hasText: "Use another method" }).click();
    await page.getByRole("link", { name: /Recovery code/ }).click();
    await page.getByLabel("Recovery code").fill(codes[0]);
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.getByLabel("Code", { exact: true }).fill(await db.mail.code(newEmail));
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.waitForURL(/\/account\?notice=added$/);
    await page.locator('#methods tr[data-method-type="email"]').getByRole("button", { name: /Make primary/ }).click();
    await page.waitForURL(/notice=primary$/);
    assert.match(await page.locator('#methods tr[data-method-type="email"]').innerText(), /Primary/);
    assert.doesNotMatch(await page.locator('#methods tr[data-method-type="totp"]').innerText(), /Primary/);

    // new recovery codes behind step-up; the old ones stop working
    await page.getByRole("button", { name: "Make new recovery codes" }).click();
    await page.waitForURL(/\/step-up\?op=regenerate-codes$/);
    // the emailed code is not enough for this while an app is enrolled: it is not offered
    assert.equal(await page.getByLabel("Code we sent you").count(), 0);
    await page.locator("summary", { hasText: "Use another method" }).click();
    await page.getByRole("link", { name: /Recovery code/ }).click();
    await page.getByLabel("Recovery code").fill(codes[1]);
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.getByRole("heading", { name: "Save your recovery codes" }).waitFor();
    assert.match(await page.locator("main").innerText(), /old codes no longer work/);
    const fresh = await page.locator("#recovery-codes li").allInnerTexts();
    assert.equal(fresh.length, 10);
    assert.ok(!fresh.includes(codes[2]));
    await page.getByLabel("I have saved my recovery codes").check();
    await page.getByRole("button", { name: "Finish" }).click();
    await page.waitForURL(/notice=codes$/);
    assert.match(await page.locator("#codes-remaining").innerText(), /10/);
    await signOut(page);
    await signIn(page, db, newEmail);
    await page.waitForURL(/\/sign-in\/verify/);
    await page.locator("summary", { hasText: "Use another method" }).click();
    await page.getByRole("link", { name: /Recovery code/ }).click();
    await page.getByLabel("Recovery code").fill(codes[2]);
    await page.getByRole("button", { name: "Continue" }).click();
    await page.locator("#error-summary").waitFor();
    await page.getByLabel("Recovery code").fill(fresh[0]);
    await page.getByRole("button", { name: "Continue" }).click();
    await page.waitForURL(/\/account$/);
  } catch (e) {
    await close(true);
    await other.close();
    throw e;
  }
  await close();
  await other.close();
});
