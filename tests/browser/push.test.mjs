// Push approval on the hosted pages, in a real browser: one browser enrols itself as the
// approver; another signs in with "Approve on my other device", shows a number, and goes on
// by itself once the first browser's prompt is answered with that number. The approving
// browser has a phone-sized screen.
//
//   cd tests/browser && npm ci && node --test
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Deadbolt, PASSWORD, browser } from "./harness.mjs";

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

async function signIn(page, email) {
  await page.goto(`${db.url}/sign-in`);
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

/** The waiting browser asks for an approval: the number it shows. */
async function askForApproval(page, email) {
  await signIn(page, email);
  await page.waitForURL(/\/sign-in\/verify/);
  await page.getByRole("button", { name: "Approve on my other device" }).click();
  const number = (await page.locator("#push-number").innerText()).trim();
  assert.match(number, /^[1-9][0-9]$/);
  return number;
}

test("a browser approves another browser's sign-in by picking its number, and refuses the next", async () => {
  const email = "push-browser@example.com";
  const phone = await browser({ viewport: { width: 375, height: 740 } });
  const laptop = await browser();
  let failed = true;
  try {
    // the phone-sized browser becomes the approver
    await signUp(phone.page, email);
    await signIn(phone.page, email);
    await phone.page.waitForURL(/\/account/);
    await phone.page.goto(`${db.url}/account/mfa/new`);
    await phone.page.getByRole("button", { name: "Set up approve on this browser" }).click();
    await phone.page.getByRole("heading", { name: "Save your recovery codes" }).waitFor();
    await phone.page.getByLabel("I have saved my recovery codes").check();
    await phone.page.getByRole("button", { name: "Finish" }).click();
    await phone.page.waitForURL(/\/account/);

    // the other browser signs in and shows a number
    const number = await askForApproval(laptop.page, email);

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
    failed = false;
  } finally {
    await phone.close(failed);
    await laptop.close(failed);
  }
});
