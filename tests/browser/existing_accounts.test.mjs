// A product that keeps its own accounts adds Deadbolt's second factor through the signed
// redirect: the example of examples/existing-accounts (Flask, its own users table and password
// check, Authlib and joserfc for the OpenID Connect side), run unchanged as python3 app.py
// against the real `deadbolt` binary (harness.mjs), in headless Chromium. The operator's steps
// are the ones the example's README gives: `python3 app.py --print-jwks`, then
// `deadbolt clients create --jwks FILE`.
//
//   cd tests/browser && npm ci && node --test existing_accounts.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as jose from "jose";
import { Deadbolt, binary, browser, freePort, freshCode, repo, totpAt } from "./harness.mjs";

const EXAMPLE = join(repo, "examples", "existing-accounts");
const PYTHON = process.env.PYTHON || "python3";
const PASSWORD = "a password of the product's own";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Math.floor(Date.now() / 1000);

// ---- the example product, as its operator runs it ----

/** One instance of the example: its own data directory (users, signing key), port and client. */
class Example {
  static async start(db, name) {
    const dir = mkdtempSync(join(tmpdir(), "deadbolt-example-"));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // both products are on 127.0.0.1, where cookies do not tell ports apart: a cookie name each
    const cookie = `${name.toLowerCase().replace(/[^a-z]+/g, "-")}-session`;
    const env = { ...process.env, DATA_DIR: join(dir, "data"), PORT: String(port), FLASK_SESSION_COOKIE_NAME: cookie };

    // the operator: the example's public keys, then a confidential client that holds them
    const printed = spawnSync(PYTHON, ["app.py", "--print-jwks"], { cwd: EXAMPLE, env, encoding: "utf8" });
    if (printed.status !== 0) throw new Error(`app.py --print-jwks failed: ${printed.stderr}`);
    const jwks = JSON.parse(printed.stdout);
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0].kty, "EC");
    assert.equal(jwks.keys[0].crv, "P-256");
    assert.equal(jwks.keys[0].d, undefined, "the public key only");
    const jwksFile = join(dir, "public-jwks.json");
    writeFileSync(jwksFile, printed.stdout);
    const client = registerClient(db, { name, redirectUri: `${base}/callback`, jwksFile });

    const ex = new Example(dir, base, jwks, client, env.DATA_DIR);
    ex.proc = spawn(PYTHON, ["app.py"], {
      cwd: EXAMPLE,
      env: { ...env, DEADBOLT_URL: db.url, CLIENT_ID: client.client_id, CLIENT_SECRET: client.client_secret },
      stdio: ["ignore", "pipe", "pipe"],
    });
    for (const stream of [ex.proc.stdout, ex.proc.stderr]) {
      stream.on("data", (chunk) => (ex.log = (ex.log + chunk.toString()).slice(-6000)));
    }
    const until = Date.now() + 20000;
    for (;;) {
      try {
        if ((await fetch(`${base}/`)).ok) break;
      } catch {
        // not listening yet
      }
      if (ex.proc.exitCode !== null || Date.now() > until) throw new Error(`the example did not start:\n${ex.log}`);
      await sleep(100);
    }
    return ex;
  }

  constructor(dir, base, jwks, client, dataDir) {
    this.dir = dir;
    this.base = base;
    this.jwks = jwks;
    this.client = client;
    this.dataDir = dataDir;
    this.log = "";
  }

  /** The example's own signing key, from the file it keeps (for the tests that forge). */
  privateKey() {
    return jose.importJWK(JSON.parse(readFileSync(join(this.dataDir, "request-signing-key.json"), "utf8")), "ES256");
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill("SIGTERM");
      await new Promise((ok) => this.proc.on("exit", ok));
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `deadbolt clients create --jwks` against the server's database; {client_id, client_secret}. */
function registerClient(db, { name, redirectUri, jwksFile }) {
  const args = ["clients", "create", "--name", name, "--redirect-uri", redirectUri, "--jwks", jwksFile];
  const r = spawnSync(binary(), args, { env: db.env, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`clients create failed: ${r.stderr}`);
  const made = JSON.parse(r.stdout.trim().split("\n").pop());
  assert.match(made.client_id, /^dbc_/);
  assert.match(made.client_secret, /^dbcs_/);
  return made;
}

/** Runs `body` with a server, a browser and the examples it starts, screenshotting a failure. */
async function scenario(body) {
  const db = await Deadbolt.start();
  const { page, close } = await browser();
  const examples = [];
  let failed = true;
  try {
    await body({
      db,
      page,
      example: async (name) => {
        const ex = await Example.start(db, name);
        examples.push(ex);
        return ex;
      },
    });
    failed = false;
  } finally {
    await close(failed);
    for (const ex of examples) {
      if (failed) console.log(`the example at ${ex.base} logged:\n${ex.log}`);
      await ex.stop();
    }
    await db.stop();
  }
}

// ---- a person at the product, and at Deadbolt's pages ----

async function signUp(page, ex, email) {
  await page.goto(`${ex.base}/sign-up`);
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.getByRole("status").filter({ hasText: "Your account is ready" }).waitFor();
}

/** The product's own sign-in form; the browser then goes on to Deadbolt. */
async function signIn(page, ex, email) {
  await page.goto(`${ex.base}/sign-in`);
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function signOut(page, ex) {
  await page.goto(`${ex.base}/`);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByText("You are not signed in.").waitFor();
}

const atDeadbolt = (db, path) => (u) => u.origin === db.url && u.pathname === path;

/** Deadbolt's enrolment wizard, an authenticator app set up with it; the app's secret. */
async function enrolTotp(page, db, ex) {
  await page.waitForURL(atDeadbolt(db, "/account/mfa/new"));
  // the product vouches for its person: nothing waits on Deadbolt's own proof of the address
  assert.doesNotMatch(await page.locator("main").innerText(), /Verify your email address first/, "the wizard offers the methods");
  await page.getByRole("button", { name: "Set up authenticator app" }).click();
  const secret = (await page.locator("#totp-secret").innerText()).replace(/\s+/g, "");
  await page.getByLabel("6-digit code from the app").fill(await freshCode(secret));
  await page.getByRole("button", { name: "Confirm" }).click();
  await page.getByRole("heading", { name: "Save your recovery codes" }).waitFor();
  await page.getByLabel("I have saved my recovery codes").check();
  await page.getByRole("button", { name: "Finish" }).click();
  // back to the product, or first a check with the new factor (the step-up dialog, or the
  // challenge page): never Deadbolt's own sign-in, which a subject cannot use
  const dialog = page.getByRole("dialog", { name: "Confirm it's you" });
  const next = await Promise.race([
    page.waitForURL((u) => u.origin === ex.base || atDeadbolt(db, "/sign-in/verify")(u)).then(() => "moved", () => "timeout"),
    dialog.waitFor().then(() => "dialog", () => "timeout"),
  ]);
  if (next === "dialog") {
    await page.getByLabel("6-digit code from your authenticator app").fill(await freshCode(secret));
    await page.getByRole("button", { name: "Confirm" }).click();
  } else if (atDeadbolt(db, "/sign-in/verify")(new URL(page.url()))) {
    await answerChallenge(page, db, secret);
  } else {
    assert.equal(new URL(page.url()).origin, ex.base, `after the enrolment, back at the product (the browser is at ${page.url()})`);
  }
  return secret;
}

/** Deadbolt's second-factor challenge, answered with the app's code. */
async function answerChallenge(page, db, secret) {
  await page.waitForURL(atDeadbolt(db, "/sign-in/verify"));
  await page.getByLabel("6-digit code from your authenticator app").fill(await freshCode(secret));
  await page.getByRole("button", { name: "Continue" }).click();
}

/** After a sign-in at the product: Deadbolt's challenge (a new sign-in on a browser not trusted), answered. */
async function challenged(page, db, ex, secret) {
  await page.waitForURL((u) => u.origin === ex.base || atDeadbolt(db, "/sign-in/verify")(u));
  assert.equal(new URL(page.url()).pathname, "/sign-in/verify", "a new sign-in at the product is asked for the second factor, not passed on the earlier one");
  await answerChallenge(page, db, secret);
}

/** Back at the product's home page, signed in: who, and what the ID token said. */
async function signedIn(page, ex) {
  await page.waitForURL(`${ex.base}/`);
  await page.locator("#amr").waitFor();
  return {
    email: await page.locator("#email").innerText(),
    userId: await page.locator("#user-id").innerText(),
    amr: JSON.parse(await page.locator("#amr").innerText()),
    acr: await page.locator("#acr").innerText(),
  };
}

function assertSecondFactor(shown, email) {
  assert.equal(shown.email, email);
  assert.equal(shown.acr, "aal2");
  for (const m of ["otp", "mfa"]) assert.ok(shown.amr.includes(m), `amr ${JSON.stringify(shown.amr)} has ${m}`);
  assert.ok(!shown.amr.includes("pwd"), "the password was the product's, not Deadbolt's");
}

// ---- the tests ----

test("the example product: sign up and sign in at the product, set up TOTP through the signed redirect, sign out, sign in again with the code; a second product naming the same user id reaches a subject of its own", async () => {
  await scenario(async ({ db, page, example }) => {
    const shop = await example("Reading room");
    const ada = "ada@example.com";

    // every authorization request the browser makes carries a request object, nothing else
    const authorizations = [];
    page.on("request", (r) => {
      const u = new URL(r.url());
      if (u.origin === db.url && u.pathname === "/oauth2/authorize") authorizations.push(u);
    });

    // sign up and sign in at the product; its password check passes, and Deadbolt asks for a
    // second factor to be set up, since the product asks every user for one (acr_values=aal2)
    await signUp(page, shop, ada);
    await signIn(page, shop, ada);
    const secret = await enrolTotp(page, db, shop);
    const first = await signedIn(page, shop);
    assertSecondFactor(first, ada);
    assert.equal(first.userId, "1");
    assert.equal(authorizations.length, 1);
    assert.deepEqual([...authorizations[0].searchParams.keys()].sort(), ["client_id", "request", "response_type", "scope"]);
    assert.equal(authorizations[0].searchParams.get("client_id"), shop.client.client_id);
    // the person's session at Deadbolt serves their product's sign-ins only: Deadbolt's own
    // account pages see nobody signed in
    await page.goto(`${db.url}/account`);
    await page.waitForURL(atDeadbolt(db, "/sign-in"));

    // signed out at the product, then in again: this time the challenge, answered with the code
    await signOut(page, shop);
    await signIn(page, shop, ada);
    await challenged(page, db, shop, secret);
    const again = await signedIn(page, shop);
    assertSecondFactor(again, ada);
    assert.equal(again.userId, "1");

    // a second product, with a client and key of its own, whose first user is also its "1":
    // in the same browser, its user is asked to set up a factor of their own, never challenged
    // for the first product's, and nothing of the first product's person shows
    const forum = await example("Forum");
    const grace = "grace@example.com";
    await signUp(page, forum, grace);
    await signIn(page, forum, grace);
    await page.waitForURL((u) => u.origin === db.url && ["/account/mfa/new", "/sign-in/verify"].includes(u.pathname));
    assert.equal(new URL(page.url()).pathname, "/account/mfa/new", "a new subject: set up a factor, not the first product's challenge");
    assert.doesNotMatch(await page.locator("body").innerText(), /ada@example\.com/);
    const forumSecret = await enrolTotp(page, db, forum);
    assert.notEqual(forumSecret, secret);
    const forumShown = await signedIn(page, forum);
    assertSecondFactor(forumShown, grace);
    assert.equal(forumShown.userId, "1", "the same external_id as at the first product");

    // the first product's person is still challenged for their own factor: the second
    // product's code is a wrong code there, theirs works
    await signOut(page, shop);
    await signIn(page, shop, ada);
    await page.waitForURL((u) => u.origin === shop.base || atDeadbolt(db, "/sign-in/verify")(u));
    assert.equal(new URL(page.url()).pathname, "/sign-in/verify", "challenged again");
    assert.doesNotMatch(await page.locator("body").innerText(), /grace@example\.com/);
    const theirs = totpAt(forumSecret, now());
    const mine = [-1, 0, 1].map((d) => totpAt(secret, now() + 30 * d));
    if (!mine.includes(theirs)) {
      await page.getByLabel("6-digit code from your authenticator app").fill(theirs);
      await page.getByRole("button", { name: "Continue" }).click();
      await page.locator("#error-summary").waitFor();
      assert.match(await page.locator("#error-summary").innerText(), /not right/);
    }
    await answerChallenge(page, db, secret);
    assertSecondFactor(await signedIn(page, shop), ada);
  });
});

test("refused request objects: forged (another key, the other product's key), unsigned (alg none), replayed, expired: each an error page at Deadbolt (400, no redirect); the keys replaced with clients set-keys", async () => {
  await scenario(async ({ db, page, example }) => {
    const shop = await example("Reading room");
    const forum = await example("Forum");
    const email = "lin@example.com";

    // the product's own sign-up, then its sign-in without following the redirect: the URL it
    // sends the browser to
    const form = (fields) => ({ method: "POST", body: new URLSearchParams(fields), redirect: "manual" });
    assert.equal((await fetch(`${shop.base}/sign-up`, form({ email, password: PASSWORD }))).status, 302);
    const wrong = await fetch(`${shop.base}/sign-in`, form({ email, password: "not the password" }));
    assert.equal(wrong.status, 401, "the product's own password check");
    const signedIn = await fetch(`${shop.base}/sign-in`, form({ email, password: PASSWORD }));
    assert.equal(signedIn.status, 302);
    const genuine = new URL(signedIn.headers.get("location"));
    const published = await (await fetch(`${db.url}/.well-known/openid-configuration`)).json();
    assert.equal(`${genuine.origin}${genuine.pathname}`, published.authorization_endpoint);

    // the request object as the spec has it, signed with the key the product registered
    const requestObject = genuine.searchParams.get("request");
    const header = jose.decodeProtectedHeader(requestObject);
    assert.equal(header.alg, "ES256");
    assert.equal(header.kid, shop.jwks.keys[0].kid);
    const { payload: claims } = await jose.jwtVerify(requestObject, jose.createLocalJWKSet(shop.jwks), {
      issuer: shop.client.client_id,
      audience: published.issuer,
    });
    assert.equal(claims.client_id, shop.client.client_id);
    assert.equal(claims.response_type, "code");
    assert.equal(claims.redirect_uri, `${shop.base}/callback`);
    assert.ok(claims.scope.split(" ").includes("openid"));
    assert.equal(claims.acr_values, "aal2");
    assert.equal(claims.code_challenge_method, "S256");
    assert.match(claims.code_challenge, /^[A-Za-z0-9_-]{43}$/);
    for (const k of ["state", "nonce", "jti"]) assert.ok(claims[k]?.length >= 16, `${k} is long enough`);
    assert.ok(claims.exp > now() && claims.exp <= now() + 600, "exp within 10 minutes");
    assert.deepEqual(claims.deadbolt_subject, { external_id: "1", email, email_verified: false });

    const withRequest = (request) => {
      const u = new URL(genuine);
      u.searchParams.set("request", request);
      return u;
    };
    const fresh = (extra = {}) => ({ ...claims, jti: jose.base64url.encode(crypto.getRandomValues(new Uint8Array(24))), ...extra });
    /** Signed with `key`, under the product's kid unless `kid` is given (null: no kid). */
    const sign = (payload, key, kid = header.kid) => {
      const protectedHeader = { alg: "ES256", typ: "oauth-authz-req+jwt" };
      if (kid !== null) protectedHeader.kid = kid;
      return new jose.SignJWT(payload).setProtectedHeader(protectedHeader).sign(key);
    };

    /** A request Deadbolt takes: on into its own pages (here the enrolment), never back to the product. */
    async function accepted(url, why) {
      const r = await fetch(url, { redirect: "manual" });
      assert.ok([200, 302, 303].includes(r.status), `${why}: ${r.status} ${await r.text()}`);
      const location = r.headers.get("location");
      if (location) assert.equal(new URL(location, db.url).origin, db.url, `${why}: went to ${location}`);
    }

    /** A request Deadbolt refuses: its error page, 400, no redirect; and so in the browser. */
    async function refused(url, why) {
      const r = await fetch(url, { redirect: "manual" });
      assert.equal(r.status, 400, `${why}: ${r.status} ${r.headers.get("location") ?? ""}`);
      assert.equal(r.headers.get("location"), null, `${why}: never a redirect`);
      assert.match(r.headers.get("content-type"), /^text\/html/, why);
      const shown = await page.goto(url.href);
      assert.equal(shown.status(), 400, `${why} (in the browser)`);
      assert.equal(new URL(page.url()).origin, db.url, `${why}: the browser stays at Deadbolt`);
    }

    // the genuine one, once; then the same again (the same jti): a replay
    await accepted(genuine, "the genuine request object");
    await refused(genuine, "a replayed request object");

    // the same claims, a fresh jti, signed with the product's own key: taken (so what the
    // next ones are refused for is their signature or their time)
    const shopKey = await shop.privateKey();
    await accepted(withRequest(await sign(fresh(), shopKey)), "re-signed with the product's key");

    // forged: a key Deadbolt never saw, under the product's kid, and without a kid
    const { privateKey: stranger } = await jose.generateKeyPair("ES256");
    await refused(withRequest(await sign(fresh(), stranger)), "signed with an unknown key");
    await refused(withRequest(await sign(fresh(), stranger, null)), "signed with an unknown key, no kid");

    // forged by the other product: its own registered key, naming this product's client
    const forumKey = await forum.privateKey();
    await refused(withRequest(await sign(fresh(), forumKey, forum.jwks.keys[0].kid)), "signed with another client's key");

    // unsigned
    const b64 = (o) => jose.base64url.encode(JSON.stringify(o));
    await refused(withRequest(`${b64({ alg: "none", typ: "oauth-authz-req+jwt" })}.${b64(fresh())}.`), "alg none");

    // expired, and too long-lived
    await refused(withRequest(await sign(fresh({ iat: now() - 600, exp: now() - 300 }), shopKey)), "expired");
    await refused(withRequest(await sign(fresh({ exp: now() + 3600 }), shopKey)), "exp an hour ahead");

    // the keys replaced (rotation): the old key stops working, the new one works
    const next = await jose.generateKeyPair("ES256", { extractable: true });
    const nextJwk = { ...(await jose.exportJWK(next.publicKey)), alg: "ES256", use: "sig", kid: "rotated-1" };
    const nextFile = join(shop.dir, "rotated-jwks.json");
    writeFileSync(nextFile, JSON.stringify({ keys: [nextJwk] }));
    const setKeys = spawnSync(binary(), ["clients", "set-keys", shop.client.client_id, "--jwks", nextFile], { env: db.env, encoding: "utf8" });
    assert.equal(setKeys.status, 0, `clients set-keys failed: ${setKeys.stderr}`);
    await refused(withRequest(await sign(fresh(), shopKey)), "signed with the replaced key");
    await accepted(withRequest(await sign(fresh(), next.privateKey, "rotated-1")), "signed with the new key");
  });
});
