// Push approval on the hosted pages, in a real browser: one browser enrols itself as the
// approver; others sign in (or confirm a guarded action) with "Approve on my other device",
// show a number, and go on by themselves once the approver's prompt is answered with that
// number. Also: a wrong number, a burst of sign-in attempts (one prompt, the rest refused, a
// pause after "This wasn't me" while another method still works), and the keyboard alone.
// Each test has its own account, so the per-account limits of one do not touch another.
//
//   cd tests/browser && npm ci && node --test push.test.mjs
//
// SCREENSHOTS=1 also writes docs/screenshots/push-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Deadbolt, PASSWORD, browser, freshCode, screenshotsDir } from "./harness.mjs";

const shots = process.env.SCREENSHOTS === "1";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function shot(page, name) {
  if (!shots) return;
  await page.screenshot({ path: join(screenshotsDir(), `${name}.png`), fullPage: true });
}

let db;
before(async () => {
  db = await Deadbolt.start({
    DEADBOLT_MFA__ALLOWED_METHODS: '["totp", "webauthn", "email", "push", "recovery_code"]',
  });
});
after(async () => {
  await db?.stop();
});

async function signUp(page, email) {
  await page.goto(`${db.url}/sign-up`);
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Check your email" }).waitFor();
  await page.getByLabel("Code from the email").fill(await db.mail.code(email));
  await page.getByRole("button", { name: "Verify email" }).click();
  await page.waitForURL(/\/sign-in\?notice=verified$/);
}

async function signIn(page, email, password = PASSWORD) {
  await page.goto(`${db.url}/sign-in`);
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

async function signOut(page) {
  await page.getByRole("button", { name: "Sign out" }).first().click();
  await page.waitForURL(/\/sign-in\?notice=signed-out$/);
}

/** The waiting browser asks for an approval: the number it shows. */
async function askForApproval(page, email) {
  await signIn(page, email);
  await choosePush(page);
  await page.getByRole("button", { name: "Approve on my other device" }).click();
  return shownNumber(page);
}

/** The number a waiting page shows, large. */
async function shownNumber(page) {
  const shown = page.locator("#push-number").filter({ hasText: /\d/ });
  await shown.waitFor();
  const number = (await shown.innerText()).trim();
  assert.match(number, /^[1-9][0-9]$/);
  return number;
}

/** Whether a page shows a number to pick (the waiting page's markup is there, hidden, when not). */
async function showsNumber(page) {
  const n = page.locator("#push-number");
  return (await n.count()) === 1 && (await n.isVisible()) && /^[1-9][0-9]$/.test((await n.innerText()).trim());
}

/** A two-digit number that is not `number`. */
function otherThan(number) {
  return number === "99" ? "98" : String(Number(number) + 1);
}

/** On the sign-in's second step, the push method: first, or through "Use another method". */
async function choosePush(page) {
  await page.waitForURL(/\/sign-in\/verify/);
  const send = page.getByRole("button", { name: "Approve on my other device" });
  if (!(await send.isVisible())) {
    await page.locator("summary", { hasText: "Use another method" }).click();
    await page.locator('a[data-method-type="push"]').click();
  }
  await send.waitFor();
}

/** Makes a signed-in browser an account's approver through "Add a sign-in method". With an
 * authenticator app already there, the step-up comes first and no new codes are shown. */
async function enrolPush(page, { totp = null, screenshot = false } = {}) {
  await page.goto(`${db.url}/account/mfa/new`);
  const choice = page.locator("#choice-push");
  assert.match(await choice.getByRole("heading").innerText(), /Approve on this browser/);
  if (screenshot) await shot(page, "push-enroll");
  await choice.getByRole("button", { name: "Set up approve on this browser" }).click();
  if (totp) {
    await page.waitForURL(/\/step-up\?op=enroll-push$/);
    await page.getByLabel("6-digit code from your authenticator app").fill(await freshCode(totp));
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.waitForURL(/\/account\?notice=added$/);
  } else {
    await page.getByRole("heading", { name: "Save your recovery codes" }).waitFor();
    await page.getByLabel("I have saved my recovery codes").check();
    await page.getByRole("button", { name: "Finish" }).click();
    await page.waitForURL(/\/account/);
  }
  assert.equal(await page.locator('#methods tr[data-method-type="push"]').count(), 1);
}

/** Enrols an authenticator app from the pages; its key. */
async function enrolTotp(page) {
  await page.goto(`${db.url}/account/mfa/new`);
  await page.getByRole("button", { name: "Set up authenticator app" }).click();
  const secret = (await page.locator("#totp-secret").innerText()).replace(/\s+/g, "");
  await page.getByLabel("6-digit code from the app").fill(await freshCode(secret));
  await page.getByRole("button", { name: "Confirm" }).click();
  await page.getByRole("heading", { name: "Save your recovery codes" }).waitFor();
  await page.getByLabel("I have saved my recovery codes").check();
  await page.getByRole("button", { name: "Finish" }).click();
  await page.waitForURL(/\/account/);
  return secret;
}

/** A new account, signed in on `page`. */
async function newAccount(page, email) {
  await signUp(page, email);
  await signIn(page, email);
  await page.waitForURL(/\/account/);
}

/** The approver's prompt. */
function prompt(page) {
  return page.getByRole("dialog", { name: "Is this you?" });
}

/** The requests the approver's browser is asked to answer, as its script sees them. */
async function pendingFor(page) {
  return page.evaluate(async () => {
    const r = await fetch("/account/approvals", { headers: { Accept: "application/json" } });
    return (await r.json()).items;
  });
}

/** Runs `body` with `n` browsers, keeping what each showed if it fails. */
async function withBrowsers(options, body) {
  const all = await Promise.all(options.map((o) => browser(o)));
  let failed = true;
  try {
    await body(...all);
    failed = false;
  } finally {
    for (const b of all) await b.close(failed);
  }
}

test("a browser approves another browser's sign-in by picking its number, and refuses the next", async () => {
  const email = "push-browser@example.com";
  const phone = await browser({ viewport: { width: 375, height: 740 } });
  const laptop = await browser();
  let failed = true;
  try {
    // the phone-sized browser becomes the approver
    await newAccount(phone.page, email);
    await enrolPush(phone.page);

    // the other browser signs in and shows a number
    const number = await askForApproval(laptop.page, email);
    await shot(laptop.page, "push-waiting");

    // the prompt comes to the approver: a labelled dialog, focus on the number, never the number
    const dialog = phone.page.getByRole("dialog", { name: "Is this you?" });
    await dialog.waitFor({ timeout: 15000 });
    assert.match(await dialog.innerText(), /trying to sign in/);
    assert.ok(!(await dialog.innerText()).includes(number), "the prompt does not show the number");
    assert.equal(await phone.page.evaluate(() => document.activeElement?.id), "approval-number");
    const field = phone.page.getByLabel("The number shown on the other screen");
    assert.equal(await field.getAttribute("inputmode"), "numeric");
    const box = await dialog.boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 375, "the prompt fits a 375 px screen");
    const wide = await phone.page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 375, `the page with the prompt is ${wide}px wide at 375`);
    await shot(phone.page, "push-prompt-mobile");
    await field.fill(number);
    await dialog.getByRole("button", { name: "Approve" }).click();
    await dialog.getByText("Approved.").waitFor();

    // the waiting browser goes on by itself
    await laptop.page.waitForURL(/\/account/, { timeout: 15000 });

    // another sign-in, and this time it wasn't me
    await laptop.page.getByRole("button", { name: "Sign out" }).first().click();
    await laptop.page.waitForURL(/\/sign-in\?notice=signed-out$/);
    await askForApproval(laptop.page, email);
    const next = phone.page.getByRole("dialog", { name: "Is this you?" });
    await next.waitFor({ timeout: 15000 });
    await next.getByRole("button", { name: "This wasn't me" }).click();
    await next.getByText(/Refused/).waitFor();
    await laptop.page.locator("#error-summary").waitFor({ timeout: 15000 });
    assert.match(await laptop.page.locator("#error-summary").innerText(), /denied/);
    await shot(laptop.page, "push-refused");
    failed = false;
  } finally {
    await phone.close(failed);
    await laptop.close(failed);
  }
});

test("a wrong number refuses the request: the approver is told, the waiting browser shows it and offers another method", async () => {
  const email = "push-wrong@example.com";
  await withBrowsers([{}, {}], async (phone, laptop) => {
    await newAccount(phone.page, email);
    await enrolPush(phone.page);

    const number = await askForApproval(laptop.page, email);
    const wrong = otherThan(number);
    assert.notEqual(wrong, number);

    const dialog = prompt(phone.page);
    await dialog.waitFor({ timeout: 15000 });
    await phone.page.getByLabel("The number shown on the other screen").fill(wrong);
    await dialog.getByRole("button", { name: "Approve" }).click();
    const status = dialog.getByRole("status");
    await status.getByText(/not the number on the other screen/).waitFor();
    assert.match(await status.innerText(), /refused/);
    assert.doesNotMatch(await status.innerText(), /Approved/);
    // the request is answered: nothing waits for this browser any more
    assert.deepEqual(await pendingFor(phone.page), []);

    // the waiting browser hears it by itself: denied, with the other methods open
    const summary = laptop.page.locator("#error-summary");
    await summary.waitFor({ timeout: 15000 });
    assert.match(await summary.innerText(), /denied on the other device/);
    const target = await summary.getByRole("link").getAttribute("href");
    assert.equal(await laptop.page.locator(target).count(), 1, `the error's link leads somewhere (${target})`);
    assert.ok(await laptop.page.locator(target).getByRole("button", { name: "Approve on my other device" }).isVisible());
    assert.equal(await showsNumber(laptop.page), false, "no number waits any more");
    assert.match(laptop.page.url(), /\/sign-in\/verify/, "not signed in");
    const others = laptop.page.locator("details.other-methods");
    assert.equal(await others.getAttribute("open"), "", "the other methods are shown open");
    assert.ok(await others.getByRole("link", { name: /Recovery code/ }).isVisible(), "a recovery code is offered");
    // and the account page of the signed-in browser is not reached from here

    // the refused prompt makes way by itself, and the next request reaches the approver
    await dialog.waitFor({ state: "detached", timeout: 15000 });
    await laptop.page.getByRole("button", { name: "Approve on my other device" }).click();
    const again = await shownNumber(laptop.page);
    await dialog.waitFor({ timeout: 15000 });
    assert.equal(await dialog.getByRole("status").innerText(), "", "a new prompt, not the refused one");
    await phone.page.getByLabel("The number shown on the other screen").fill(again);
    await dialog.getByRole("button", { name: "Approve" }).click();
    await laptop.page.waitForURL(/\/account/, { timeout: 15000 });
  });
});

test("a burst of sign-in attempts makes one prompt; the rest are refused; after \"This wasn't me\" push pauses while the app still works", async () => {
  const email = "push-burst@example.com";
  const BURST = 4;
  await withBrowsers([{}, ...Array.from({ length: BURST }, () => ({}))], async (phone, ...others) => {
    // an authenticator app first, then this browser as the approver
    await newAccount(phone.page, email);
    const secret = await enrolTotp(phone.page);
    await enrolPush(phone.page, { totp: secret });

    // every other browser gets as far as "Approve on my other device"
    await Promise.all(others.map(async (b) => {
      await signIn(b.page, email);
      await choosePush(b.page);
    }));
    // and all press it at once
    await Promise.all(others.map((b) => b.page.getByRole("button", { name: "Approve on my other device" }).click()));
    await Promise.all(others.map((b) => b.page.waitForLoadState()));
    const outcome = async (b) => {
      await b.page.locator("#push-status, #error-summary").first().waitFor();
      return (await showsNumber(b.page)) ? "number" : "refused";
    };
    const outcomes = await Promise.all(others.map(outcome));
    assert.equal(outcomes.filter((o) => o === "number").length, 1, `one number among ${outcomes}`);
    const waiting = others[outcomes.indexOf("number")];
    const number = await shownNumber(waiting.page);
    for (const b of others.filter((_, i) => outcomes[i] === "refused")) {
      const summary = b.page.locator("#error-summary");
      assert.equal(await summary.getAttribute("role"), "alert");
      assert.match(await summary.innerText(), /Too many attempts\. Try again in \d+ (seconds|minutes)/);
      assert.equal(await b.page.evaluate(() => document.activeElement?.id), "error-summary", "the error has focus");
      const markup = await b.page.content();
      assert.ok(!markup.includes(`value="${number}"`) && !markup.includes(`>${number}</p>`), "a refused browser is not given the number");
    }

    // one prompt, and still one after several of the approver's polls
    await prompt(phone.page).waitFor({ timeout: 15000 });
    await sleep(10000);
    assert.equal(await phone.page.getByRole("dialog").count(), 1);
    assert.equal((await pendingFor(phone.page)).length, 1, "one request waits for the approver");
    for (const [i, b] of others.entries()) {
      if (outcomes[i] === "refused") assert.equal(await showsNumber(b.page), false);
    }

    // it wasn't me
    const dialog = prompt(phone.page);
    await dialog.getByRole("button", { name: "This wasn't me" }).click();
    await dialog.getByText(/Refused/).waitFor();
    await waiting.page.locator("#error-summary").waitFor({ timeout: 15000 });
    assert.match(await waiting.page.locator("#error-summary").innerText(), /denied/);

    // within the pause, another attempt's push is refused, and the app still signs in
    const late = others.find((b) => b !== waiting);
    await late.page.goto(`${db.url}/sign-in/verify`);
    await choosePush(late.page);
    await late.page.getByRole("button", { name: "Approve on my other device" }).click();
    const summary = late.page.locator("#error-summary");
    await summary.waitFor();
    assert.match(await summary.innerText(), /Too many attempts\. Try again in 1[45] minutes/);
    assert.equal(await showsNumber(late.page), false);
    assert.deepEqual(await pendingFor(phone.page), [], "no request reaches the approver");
    // the other methods are shown open beside the error
    const otherMethods = late.page.locator("details.other-methods");
    assert.equal(await otherMethods.getAttribute("open"), "");
    await otherMethods.getByRole("link", { name: /Authenticator app/ }).click();
    await late.page.getByLabel("6-digit code from your authenticator app").fill(await freshCode(secret));
    await late.page.getByRole("button", { name: "Continue" }).click();
    await late.page.waitForURL(/\/account/);
  });
});

test("the prompt and the waiting page work with the keyboard alone", async () => {
  const email = "push-keys@example.com";
  await withBrowsers([{}, {}], async (phone, laptop) => {
    await newAccount(phone.page, email);
    await enrolPush(phone.page, { screenshot: true });

    /** Presses Tab until `check` holds for the focused element (at most 30 times). */
    const tabTo = async (page, what, check) => {
      for (let i = 0; i < 30; i++) {
        await page.keyboard.press("Tab");
        if (await page.evaluate(check)) return;
      }
      assert.fail(`Tab never reached ${what}`);
    };
    const focused = (page) => page.evaluate(() => document.activeElement?.textContent?.trim() || document.activeElement?.id);

    // the waiting page: Tab to "Approve on my other device", Enter
    await signIn(laptop.page, email);
    await choosePush(laptop.page);
    await tabTo(laptop.page, "Approve on my other device", () => document.activeElement?.id === "send-push");
    assert.equal(await focused(laptop.page), "Approve on my other device");
    await laptop.page.keyboard.press("Enter");
    const number = await shownNumber(laptop.page);

    // the prompt opens with focus in the number field; type, Tab to Approve; "This wasn't me" next
    const dialog = prompt(phone.page);
    await dialog.waitFor({ timeout: 15000 });
    assert.equal(await phone.page.evaluate(() => document.activeElement?.id), "approval-number");
    await shot(phone.page, "push-prompt");
    await phone.page.keyboard.type(number);
    await phone.page.keyboard.press("Tab");
    assert.equal(await focused(phone.page), "Approve");
    await phone.page.keyboard.press("Tab");
    assert.equal(await focused(phone.page), "This wasn't me");
    // the prompt is modal: Tab goes round its own controls
    await phone.page.keyboard.press("Tab");
    assert.equal(await phone.page.evaluate(() => document.activeElement?.id), "approval-number");
    await phone.page.keyboard.press("Shift+Tab");
    assert.equal(await focused(phone.page), "This wasn't me");
    await phone.page.keyboard.press("Shift+Tab");
    assert.equal(await focused(phone.page), "Approve");
    await phone.page.keyboard.press("Enter");
    await dialog.getByText("Approved.").waitFor();
    assert.equal(await phone.page.evaluate(() => document.activeElement?.id), "approval-title", "focus stays in the prompt");
    await laptop.page.waitForURL(/\/account/, { timeout: 15000 });
    await dialog.waitFor({ state: "detached" });

    // the next one: Escape puts the prompt away without answering it; it comes back on the
    // next page, where Tab reaches "This wasn't me" and Enter refuses
    await laptop.page.getByRole("button", { name: "Sign out" }).first().click();
    await laptop.page.waitForURL(/\/sign-in\?notice=signed-out$/);
    await askForApproval(laptop.page, email);
    await dialog.waitFor({ timeout: 15000 });
    await phone.page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    assert.equal(await phone.page.evaluate(() => document.activeElement?.id), "main", "focus is not lost with the prompt");
    assert.equal((await pendingFor(phone.page)).length, 1, "Escape answers nothing");
    await phone.page.reload();
    await dialog.waitFor({ timeout: 15000 });
    assert.equal(await phone.page.evaluate(() => document.activeElement?.id), "approval-number");
    await tabTo(phone.page, "This wasn't me", () => document.activeElement?.textContent === "This wasn't me");
    await phone.page.keyboard.press("Enter");
    await dialog.getByText(/Refused/).waitFor();
    await laptop.page.locator("#error-summary").waitFor({ timeout: 15000 });
    assert.match(await laptop.page.locator("#error-summary").innerText(), /denied/);
  });
});

test("step-up by push: a signed-in browser changes its password once the approver picks the number", async () => {
  const email = "push-step-up@example.com";
  await withBrowsers([{ viewport: { width: 375, height: 740 } }, {}], async (phone, laptop) => {
    await newAccount(phone.page, email);
    await enrolPush(phone.page);

    // the laptop signs in by push
    const first = await askForApproval(laptop.page, email);
    await prompt(phone.page).waitFor({ timeout: 15000 });
    await phone.page.getByLabel("The number shown on the other screen").fill(first);
    await prompt(phone.page).getByRole("button", { name: "Approve" }).click();
    await laptop.page.waitForURL(/\/account/, { timeout: 15000 });
    await prompt(phone.page).waitFor({ state: "detached" });

    // a guarded action: the step-up dialog offers the push method
    await laptop.page.goto(`${db.url}/account/password`);
    await laptop.page.getByRole("button", { name: "Confirm it's you" }).click();
    await laptop.page.waitForURL(/\/step-up\?op=password$/);
    const stepUp = laptop.page.getByRole("dialog", { name: "Confirm it's you" });
    assert.match(await stepUp.innerText(), /change your password/);
    const send = stepUp.getByRole("button", { name: "Approve on my other device" });
    if (!(await send.isVisible())) {
      await laptop.page.locator("summary", { hasText: "Use another method" }).click();
      await laptop.page.getByRole("link", { name: /Chrome/ }).click();
    }
    await send.click();
    const number = await shownNumber(laptop.page);
    assert.match(laptop.page.url(), /\/step-up/);

    // the approver is told it is a confirmation, not a sign-in
    const dialog = prompt(phone.page);
    await dialog.waitFor({ timeout: 15000 });
    const asked = await dialog.innerText();
    assert.match(asked, /trying to change your password from /);
    assert.doesNotMatch(asked, /trying to sign in/);
    await phone.page.getByLabel("The number shown on the other screen").fill(number);
    await dialog.getByRole("button", { name: "Approve" }).click();
    await dialog.getByText("Approved.").waitFor();

    // the action goes on
    await laptop.page.getByLabel("Current password").waitFor({ timeout: 15000 });
    assert.match(laptop.page.url(), /\/account\/password$/);
    await laptop.page.getByLabel("Current password").fill(PASSWORD);
    await laptop.page.getByLabel("New password").fill("velvet harbour tangerine compass");
    await laptop.page.getByRole("button", { name: "Change password" }).click();
    await laptop.page.waitForURL(/\/account\?notice=password$/);

    // a new password signs the other sessions out, the approver's too: its method can no
    // longer be asked, and the sign-in page says so
    await phone.page.goto(`${db.url}/account`);
    await phone.page.waitForURL(/\/sign-in/);
    await signOut(laptop.page);
    await signIn(laptop.page, email, "velvet harbour tangerine compass");
    await choosePush(laptop.page);
    await laptop.page.getByRole("button", { name: "Approve on my other device" }).click();
    await laptop.page.locator("#error-summary").waitFor();
    assert.match(await laptop.page.locator("#error-summary").innerText(), /device that approves for this method has signed out/);
    assert.equal(await showsNumber(laptop.page), false);
  });
});
