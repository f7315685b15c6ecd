// Deadbolt as an OpenID Connect provider, end to end, with real relying-party libraries that
// this project did not write: Node's openid-client (panva's, certified for the Basic RP
// profile) and Python's Authlib (tests/rp/authlib_rp.py, a small web app). The person signs
// in through Deadbolt's hosted pages in headless Chromium, exactly as pages.test.mjs drives
// them; each test has its own server (harness.mjs) and registers its clients with the
// `deadbolt clients create` command against the same database.
//
// Nothing here hard-codes an endpoint: the libraries read them from discovery, and the paths
// are only asserted (in the discovery test).
//
//   cd tests/browser && npm ci && node --test oidc.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { join } from "node:path";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as oidc from "openid-client";
import * as jose from "jose";
import { Deadbolt, PASSWORD, binary, browser, freePort, freshCode, repo } from "./harness.mjs";

const SCOPE = "openid profile email phone offline_access";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Math.floor(Date.now() / 1000);

// ---- the provider's side: clients and people ----

/** `deadbolt clients create` against the server's database; {client_id, client_secret?}.
 * The ID-token algorithm is EdDSA unless said (openid-client's clients here use it; the
 * server's own default is RS256, the Authlib app's). */
function registerClient(db, { name, redirectUris, postLogoutRedirectUris = [], isPublic = false, thirdParty = false, alg = "EdDSA", grants = [], jwksFile }) {
  const args = ["clients", "create", "--name", name];
  if (jwksFile) args.push("--jwks", jwksFile);
  for (const uri of redirectUris) args.push("--redirect-uri", uri);
  for (const uri of postLogoutRedirectUris) args.push("--post-logout-redirect-uri", uri);
  if (isPublic) args.push("--public");
  if (thirdParty) args.push("--third-party");
  for (const g of grants) args.push("--grant", g);
  args.push("--id-token-alg", alg);
  const r = spawnSync(binary(), args, { env: db.env, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`clients create failed: ${r.stderr}`);
  const made = JSON.parse(r.stdout.trim().split("\n").pop());
  assert.match(made.client_id, /^dbc_/);
  if (isPublic) assert.equal(made.client_secret, undefined, "a public client has no secret");
  else assert.match(made.client_secret, /^dbcs_/);
  return made;
}

async function api(db, method, path, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(`${db.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** An account with a verified email, made through the API (the pages are tested elsewhere). */
async function createPerson(db, email) {
  const made = await api(db, "POST", "/v1/accounts", { email, password: PASSWORD });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const verified = await api(db, "POST", "/v1/accounts/verify", { email, channel: "email", code: await db.mail.code(email) });
  assert.equal(verified.status, 200, JSON.stringify(verified.body));
  return made.body.id;
}

/** Turns on TOTP for `email` through the API (a fresh sign-in, so recent enough); its key. */
async function enrollTotp(db, email) {
  const login = await api(db, "POST", "/v1/login", { email, password: PASSWORD });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  assert.equal(login.body.mfa_required, false);
  const token = login.body.access_token;
  const started = await api(db, "POST", "/v1/me/mfa/totp", {}, token);
  assert.equal(started.status, 201, JSON.stringify(started.body));
  const { method_id, secret } = started.body;
  const confirmed = await api(db, "POST", `/v1/me/mfa/${method_id}/confirm`, { code: await freshCode(secret) }, token);
  assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
  assert.equal(confirmed.body.recovery_codes.length, 10, "this confirmation turned MFA on");
  await api(db, "POST", "/v1/logout", {}, token);
  return secret;
}

// ---- the hosted pages, as pages.test.mjs drives them ----

/** On Deadbolt's sign-in page: email and password, then the app's code when `secret`. */
async function signInOnPages(page, db, email, secret, { trustDevice = false } = {}) {
  await page.waitForURL((u) => u.origin === db.url && u.pathname === "/sign-in");
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  if (!secret) return;
  await page.waitForURL(/\/sign-in\/verify/);
  await page.getByLabel("6-digit code from your authenticator app").fill(await freshCode(secret));
  if (trustDevice) await page.getByLabel("Trust this device").check();
  await page.getByRole("button", { name: "Continue" }).click();
}

/** The step-up dialog ("Confirm it's you"), answered with the app's code. */
async function stepUpOnPages(page, secret) {
  await page.getByRole("dialog", { name: "Confirm it's you" }).waitFor();
  await page.getByLabel("6-digit code from your authenticator app").fill(await freshCode(secret));
  await page.getByRole("button", { name: "Confirm" }).click();
}

// ---- the relying party's side ----

function stopServer(server) {
  return new Promise((ok) => {
    server.close(ok);
    server.closeAllConnections();
  });
}

/** Where the client's browser lands: a loopback HTTP server that records each request. */
async function clientSite() {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const hits = [];
  const server = createServer((req, res) => {
    hits.push(new URL(req.url, base));
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    res.end("<!doctype html><title>The client</title><h1>Back at the client</h1>");
  });
  await new Promise((ok) => server.listen(port, "127.0.0.1", ok));
  return {
    base,
    callback: `${base}/callback`,
    loggedOut: `${base}/logged-out`,
    hits,
    close: () => stopServer(server),
  };
}

/** openid-client's view of the provider, for a confidential (or public) client. */
async function configure(db, client, { alg = "EdDSA", auth } = {}) {
  const metadata = { id_token_signed_response_alg: alg };
  if (client.client_secret) metadata.client_secret = client.client_secret;
  const clientAuth = auth ?? (client.client_secret ? oidc.ClientSecretBasic(client.client_secret) : oidc.None());
  return oidc.discovery(new URL(db.url), client.client_id, metadata, clientAuth, {
    // plain http on loopback in tests; and verify ID token signatures against the JWKS,
    // which openid-client otherwise leaves to TLS for token-endpoint responses
    execute: [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks],
  });
}

/** A fresh authorization request: PKCE S256, state and nonce, plus `extra` parameters. */
async function authorization(config, redirectUri, extra = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: SCOPE,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
    ...extra,
  });
  return { url, verifier, state, nonce };
}

/** Waits until the browser is back at `prefix`; that URL. */
async function landedAt(page, prefix) {
  await page.waitForURL((u) => u.href.startsWith(prefix));
  return new URL(page.url());
}

/** The code exchange with every check openid-client makes (iss, state, nonce, ID token). */
function redeem(config, callbackUrl, req, checks = {}) {
  return oidc.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier: req.verifier,
    expectedState: req.state,
    expectedNonce: req.nonce,
    idTokenExpected: true,
    ...checks,
  });
}

const isError = (code) => (e) => {
  assert.equal(e.error, code, `expected ${code}, got ${e.name}: ${e.error ?? e.message} ${e.error_description ?? ""}`);
  return true;
};

function assertSignedInWithTotp(claims, db, client, nonce) {
  assert.equal(claims.iss, db.url);
  assert.ok([claims.aud].flat().includes(client.client_id), "aud holds the client");
  assert.equal(claims.azp, client.client_id);
  assert.equal(claims.nonce, nonce);
  assert.equal(typeof claims.sub, "string");
  assert.equal(typeof claims.sid, "string");
  assert.ok(claims.exp > claims.iat);
  assert.ok(Math.abs(claims.iat - now()) < 120, "iat is now");
  assert.ok(claims.auth_time <= claims.iat && claims.auth_time > now() - 300, "auth_time is this sign-in");
  assert.equal(claims.acr, "aal2");
  for (const m of ["pwd", "otp", "mfa"]) assert.ok(claims.amr.includes(m), `amr ${JSON.stringify(claims.amr)} has ${m}`);
}

/** Runs `body` with a server, a browser and things to close, screenshotting a failure. */
async function scenario(body) {
  const db = await Deadbolt.start();
  const { page, close } = await browser();
  const cleanups = [];
  let failed = true;
  try {
    await body({ db, page, cleanup: (f) => cleanups.push(f) });
    failed = false;
  } finally {
    await close(failed);
    for (const f of cleanups.reverse()) await f();
    await db.stop();
  }
}

// ---- discovery and keys ----

test("discovery and JWKS: every endpoint under the issuer, what is supported, an Ed25519 and an RSA public key", async () => {
  const db = await Deadbolt.start();
  try {
    // as published (OpenID Connect Discovery 1.0, RFC 8414, RFC 9207)
    const published = await (await fetch(`${db.url}/.well-known/openid-configuration`)).json();
    assert.equal(published.issuer, db.url);
    assert.equal(published.authorization_endpoint, `${db.url}/oauth2/authorize`);
    assert.equal(published.token_endpoint, `${db.url}/oauth2/token`);
    assert.equal(published.userinfo_endpoint, `${db.url}/oauth2/userinfo`);
    assert.equal(published.revocation_endpoint, `${db.url}/oauth2/revoke`);
    assert.equal(published.introspection_endpoint, `${db.url}/oauth2/introspect`);
    assert.equal(published.end_session_endpoint, `${db.url}/oauth2/logout`);
    assert.equal(published.jwks_uri, `${db.url}/.well-known/jwks.json`);
    assert.deepEqual(published.response_types_supported, ["code"]);
    assert.ok(published.subject_types_supported.includes("public"));
    for (const alg of ["EdDSA", "RS256"]) assert.ok(published.id_token_signing_alg_values_supported.includes(alg), alg);
    assert.ok(published.code_challenge_methods_supported.includes("S256"));
    for (const s of SCOPE.split(" ")) assert.ok(published.scopes_supported.includes(s), s);
    for (const g of ["authorization_code", "refresh_token"]) assert.ok(published.grant_types_supported.includes(g), g);
    for (const m of ["client_secret_basic", "client_secret_post", "none"]) {
      assert.ok(published.token_endpoint_auth_methods_supported.includes(m), m);
    }
    for (const a of ["aal1", "aal2"]) assert.ok(published.acr_values_supported.includes(a), a);
    assert.equal(published.authorization_response_iss_parameter_supported, true);
    const jwks = await (await fetch(published.jwks_uri)).json();
    const ed = jwks.keys.find((k) => k.kty === "OKP" && k.crv === "Ed25519");
    const rsa = jwks.keys.find((k) => k.kty === "RSA");
    assert.ok(ed?.kid, "an Ed25519 key with a kid");
    assert.equal(ed.alg ?? "EdDSA", "EdDSA");
    // RS256 is offered for ID tokens, so its key must be there (Discovery 1.0 section 3)
    assert.ok(rsa?.kid, `an RSA key with a kid, for RS256: the JWKS holds ${JSON.stringify(jwks.keys.map((k) => [k.kty, k.alg, k.kid]))}`);
    assert.equal(rsa.alg ?? "RS256", "RS256");
    assert.ok(Buffer.from(rsa.n, "base64url").length >= 256, "at least 2048 bits");
    assert.equal(new Set(jwks.keys.map((k) => k.kid)).size, jwks.keys.length, "kids are unique");
    for (const k of jwks.keys) {
      for (const secret of ["d", "p", "q", "dp", "dq", "qi"]) assert.equal(k[secret], undefined, `no private ${secret}`);
    }

    // served to anyone, without credentials, as JSON
    assert.match((await fetch(published.jwks_uri)).headers.get("content-type"), /^application\/(jwk-set\+)?json/);
  } finally {
    await db.stop();
  }
});

// ---- a. openid-client, the whole life of a sign-in ----

test("openid-client: discovery, code + PKCE through the hosted pages with TOTP, ID token, userinfo, introspection, refresh, revocation, logout", async () => {
  await scenario(async ({ db, page, cleanup }) => {
    const site = await clientSite();
    cleanup(site.close);
    const client = registerClient(db, {
      name: "Node app",
      redirectUris: [site.callback],
      postLogoutRedirectUris: [site.loggedOut],
      alg: "EdDSA",
    });

    const published = await (await fetch(`${db.url}/.well-known/openid-configuration`)).json();
    const jwks = await (await fetch(published.jwks_uri)).json();
    const ed = jwks.keys.find((k) => k.kty === "OKP" && k.crv === "Ed25519");
    const config = await configure(db, client, { alg: "EdDSA" });
    assert.equal(config.serverMetadata().issuer, db.url);
    assert.ok(config.serverMetadata().supportsPKCE());
    // every token response is marked no-store (RFC 6749 5.1): watched through the library's
    // own fetch hook
    const tokenAnswers = [];
    config[oidc.customFetch] = async (url, options) => {
      const r = await fetch(url, options);
      if (url === published.token_endpoint) tokenAnswers.push(r.headers.get("cache-control"));
      return r;
    };

    const email = "ada@example.com";
    await createPerson(db, email);
    const secret = await enrollTotp(db, email);

    // the authorization request in the browser: sign-in page, then the second step, then back
    const req = await authorization(config, site.callback);
    assert.ok(req.url.href.startsWith(published.authorization_endpoint));
    await page.goto(req.url.href);
    await signInOnPages(page, db, email, secret);
    const back = await landedAt(page, site.callback);
    assert.equal(back.searchParams.get("iss"), db.url, "RFC 9207 iss in the response");
    assert.equal(back.searchParams.get("state"), req.state);
    assert.ok(back.searchParams.get("code"));

    const tokens = await redeem(config, back, req);
    assert.equal(tokens.token_type.toLowerCase(), "bearer");
    assert.ok(tokens.access_token && tokens.refresh_token && tokens.id_token);
    assert.ok(tokens.expiresIn() > 0);
    assert.equal(jose.decodeProtectedHeader(tokens.id_token).alg, "EdDSA");
    const claims = tokens.claims();
    assertSignedInWithTotp(claims, db, client, req.nonce);
    // and the signature once more, with jose against the JWKS, by the Ed25519 key
    const keySet = jose.createLocalJWKSet(jwks);
    const verified = await jose.jwtVerify(tokens.id_token, keySet, { issuer: db.url, audience: client.client_id, algorithms: ["EdDSA"] });
    assert.equal(verified.protectedHeader.kid, ed.kid);

    // userinfo: the same subject, and the email scope's claims
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.sub, claims.sub);
    assert.equal(info.email, email);
    assert.equal(info.email_verified, true);

    // introspection (RFC 7662) by the confidential client
    const live = await oidc.tokenIntrospection(config, tokens.access_token);
    assert.equal(live.active, true);
    assert.equal(live.sub, claims.sub);
    assert.equal(live.client_id, client.client_id);
    const nonsense = await oidc.tokenIntrospection(config, "not-a-token");
    assert.equal(nonsense.active, false);

    // refresh: new tokens, the refresh token rotated; a new ID token keeps sub and auth_time
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
    assert.notEqual(refreshed.access_token, tokens.access_token);
    assert.ok(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, "rotated");
    if (refreshed.id_token) {
      const again = refreshed.claims();
      assert.equal(again.sub, claims.sub);
      assert.equal(again.auth_time, claims.auth_time, "OIDC Core 12.2: the original auth_time");
      assert.equal(again.nonce, undefined);
    }
    assert.equal((await oidc.fetchUserInfo(config, refreshed.access_token, claims.sub)).sub, claims.sub);
    assert.equal(tokenAnswers.length, 2);
    for (const c of tokenAnswers) assert.match(c ?? "", /no-store/, "Cache-Control of a token response");

    // userinfo refuses a token it never issued, as RFC 6750 says
    await assert.rejects(oidc.fetchUserInfo(config, "not-a-token", claims.sub), (e) => {
      assert.ok(e instanceof oidc.WWWAuthenticateChallengeError, `${e.name}: ${e.message}`);
      assert.equal(e.status, 401);
      assert.equal(e.cause.find((c) => c.scheme === "bearer")?.parameters.error, "invalid_token");
      return true;
    });

    // revocation (RFC 7009): the refresh token is dead; an unknown token is answered 200 too
    await oidc.tokenRevocation(config, refreshed.refresh_token, { token_type_hint: "refresh_token" });
    await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token), isError("invalid_grant"));
    await oidc.tokenRevocation(config, "never-issued");
    assert.equal((await oidc.tokenIntrospection(config, refreshed.refresh_token)).active, false);

    // the live session serves a new request without a page (prompt=none)
    const quietly = await authorization(config, site.callback, { prompt: "none" });
    await page.goto(quietly.url.href);
    const later = await redeem(config, await landedAt(page, site.callback), quietly);
    assert.equal(later.claims().sub, claims.sub);
    assert.equal(later.claims().auth_time, claims.auth_time, "no new authentication");
    assert.equal(later.claims().sid, claims.sid, "the same session");

    // RP-initiated logout with the ID token as hint: no question, back with our state
    const logoutState = oidc.randomState();
    const end = oidc.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: site.loggedOut,
      state: logoutState,
    });
    assert.ok(end.href.startsWith(published.end_session_endpoint));
    await page.goto(end.href);
    const out = await landedAt(page, site.loggedOut);
    assert.equal(out.searchParams.get("state"), logoutState);
    // the session is gone: prompt=none cannot sign in silently; and the grant made in that
    // session ended with it (Deadbolt's rule: grants end with the browser session)
    const silent = await authorization(config, site.callback, { prompt: "none" });
    await page.goto(silent.url.href);
    const refused = await landedAt(page, site.callback);
    await assert.rejects(redeem(config, refused, silent), isError("login_required"));
    await assert.rejects(oidc.refreshTokenGrant(config, later.refresh_token), isError("invalid_grant"));
  });
});

// ---- b. Authlib, through a Python web app ----

/** tests/rp/authlib_rp.py on `port`, as a child process. */
async function startAuthlibApp(db, client, port) {
  const proc = spawn(
    "python3",
    [join(repo, "tests/rp/authlib_rp.py"), "--issuer", db.url, "--client-id", client.client_id, "--client-secret", client.client_secret, "--port", String(port)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise((ok, fail) => {
    let out = "";
    proc.stdout.on("data", (chunk) => {
      out += chunk;
      if (out.includes(`READY ${port}`)) ok();
    });
    proc.on("exit", (code) => fail(new Error(`authlib_rp.py exited with ${code}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const state = async () => (await fetch(`${base}/state.json`)).json();
  return {
    base,
    state,
    /** The app's page says `title`; else the app's last error, in the failure. */
    async shows(page, title) {
      await page.waitForURL((u) => u.href.startsWith(base));
      const shown = await page.locator("#title").innerText();
      assert.equal(shown, title, `the app says ${shown}: ${JSON.stringify((await state()).last_error)}`);
    },
    stop: () =>
      new Promise((ok) => {
        if (proc.exitCode !== null) return ok();
        proc.removeAllListeners("exit");
        proc.on("exit", ok);
        proc.kill("SIGTERM");
      }),
  };
}

test("Authlib: a Python web app signs in through the hosted pages (RS256, client_secret_post), prompt=login, refresh, introspection, revocation, logout, prompt=none", async () => {
  await scenario(async ({ db, page, cleanup }) => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const client = registerClient(db, {
      name: "Python app",
      redirectUris: [`${base}/callback`],
      postLogoutRedirectUris: [`${base}/logged-out`],
      alg: "RS256",
    });
    const app = await startAuthlibApp(db, client, port);
    cleanup(app.stop);
    const email = "grace@example.com";
    await createPerson(db, email);
    const secret = await enrollTotp(db, email);

    await page.goto(`${base}/login`);
    await signInOnPages(page, db, email, secret);
    await landedAt(page, `${base}/callback`);
    await app.shows(page, "Signed in");
    let s = await app.state();
    assert.equal(s.last_error, null, JSON.stringify(s.last_error));
    assert.equal(s.id_token_header.alg, "RS256");
    const claims = s.id_token_claims;
    assertSignedInWithTotp(claims, db, client, claims.nonce);
    assert.ok(claims.nonce, "the app's nonce, checked by Authlib");
    assert.equal(s.userinfo.sub, claims.sub);
    assert.equal(s.userinfo.email, email);
    assert.equal(s.token.token_type.toLowerCase(), "bearer");
    assert.ok(s.token.has_refresh_token);

    // prompt=login: the sign-in page again, though the session is alive; a later auth_time
    await sleep(1100);
    await page.goto(`${base}/login?prompt=login`);
    await signInOnPages(page, db, email, secret);
    await landedAt(page, `${base}/callback`);
    await app.shows(page, "Signed in");
    s = await app.state();
    assert.equal(s.last_error, null, JSON.stringify(s.last_error));
    assert.equal(s.id_token_claims.sub, claims.sub);
    assert.ok(s.id_token_claims.auth_time > claims.auth_time, "a new authentication");

    await page.goto(`${base}/refresh`);
    await app.shows(page, "Refreshed");
    s = await app.state();
    assert.equal(s.refresh.ok, true);
    assert.equal(s.refresh.refresh_token_rotated, true);
    assert.equal(s.refresh.access_token_changed, true);
    if (s.refresh.id_token_claims) {
      assert.equal(s.refresh.same_sub, true);
      assert.equal(s.refresh.same_auth_time, true);
    }

    await page.goto(`${base}/introspect?token=access`);
    await app.shows(page, "Introspected");
    s = await app.state();
    assert.equal(s.introspection.access.status, 200);
    assert.equal(s.introspection.access.body.active, true);
    assert.equal(s.introspection.access.body.sub, claims.sub);

    await page.goto(`${base}/revoke`);
    await app.shows(page, "Revoked");
    s = await app.state();
    assert.equal(s.revocation.status, 200);
    assert.equal(s.revocation.refresh_after.ok, false);
    assert.equal(s.revocation.refresh_after.error, "invalid_grant");

    await page.goto(`${base}/logout`);
    await landedAt(page, `${base}/logged-out`);
    s = await app.state();
    assert.equal(s.logout.state_matches, true, JSON.stringify(s.logout));

    // signed out at Deadbolt: prompt=none comes back with login_required, state and iss
    await page.goto(`${base}/login?prompt=none`);
    await landedAt(page, `${base}/callback`);
    s = await app.state();
    assert.equal(s.last_error.where, "authorization", JSON.stringify(s.last_error));
    assert.equal(s.last_error.error, "login_required");
    assert.equal(s.last_error.iss, db.url);
    assert.ok(s.last_error.state);
  });
});

// ---- c. RFC 9470: a resource server asks for more, the client steps the person up ----

/** A resource server of the client's: accepts JWT access tokens (RFC 9068: typ at+jwt, its
 * issuer, the client as audience) verified with the JWKS whose acr and auth_time satisfy
 * `policy`, and otherwise answers RFC 9470's challenge. */
async function resourceServer(metadata, audience, policy) {
  const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri));
  const port = await freePort();
  const server = createServer(async (req, res) => {
    const answer = (status, body, headers = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(body));
    };
    const m = (req.headers.authorization || "").match(/^Bearer (\S+)$/i);
    if (!m) return answer(401, { error: "no token" }, { "www-authenticate": "Bearer" });
    let payload;
    try {
      ({ payload } = await jose.jwtVerify(m[1], jwks, {
        issuer: metadata.issuer,
        audience,
        typ: "at+jwt",
        algorithms: metadata.id_token_signing_alg_values_supported,
      }));
    } catch (e) {
      return answer(401, { error: "invalid_token" }, { "www-authenticate": `Bearer error="invalid_token", error_description="${e.code}"` });
    }
    const age = now() - payload.auth_time;
    const why =
      payload.acr !== policy.acr
        ? "A different authentication level is required"
        : !(age <= policy.maxAge)
          ? "More recent authentication is required"
          : null;
    if (why) {
      return answer(401, { error: "insufficient_user_authentication" }, {
        "www-authenticate": `Bearer error="insufficient_user_authentication", error_description="${why}", acr_values="${policy.acr}", max_age="${policy.maxAge}"`,
      });
    }
    answer(200, { sub: payload.sub, acr: payload.acr, auth_time: payload.auth_time });
  });
  await new Promise((ok) => server.listen(port, "127.0.0.1", ok));
  return { url: new URL(`http://127.0.0.1:${port}/account-balance`), close: () => stopServer(server) };
}

/** The resource, or the RFC 9470 challenge's parameters when it asks for more. */
async function callResource(config, rs, accessToken) {
  try {
    const r = await oidc.fetchProtectedResource(config, accessToken, rs.url, "GET");
    return { status: r.status, body: await r.json() };
  } catch (e) {
    if (!(e instanceof oidc.WWWAuthenticateChallengeError)) throw e;
    const bearer = e.cause.find((c) => c.scheme === "bearer");
    return { status: e.status, challenge: bearer?.parameters };
  }
}

test("RFC 9470 step-up: a trusted-device session (aal1) is refused by the resource server, the client asks for acr_values=aal2, the hosted step-up dialog, then max_age", async () => {
  await scenario(async ({ db, page, cleanup }) => {
    const site = await clientSite();
    cleanup(site.close);
    const client = registerClient(db, {
      name: "Banking app",
      redirectUris: [site.callback],
      postLogoutRedirectUris: [site.loggedOut],
    });
    const config = await configure(db, client);
    const policy = { acr: "aal2", maxAge: 300 };
    const rs = await resourceServer(config.serverMetadata(), client.client_id, policy);
    cleanup(rs.close);
    const email = "hedy@example.com";
    await createPerson(db, email);
    const secret = await enrollTotp(db, email);

    // first sign-in with the app's code, trusting this device; then signed out again
    const first = await authorization(config, site.callback);
    await page.goto(first.url.href);
    await signInOnPages(page, db, email, secret, { trustDevice: true });
    const firstTokens = await redeem(config, await landedAt(page, site.callback), first);
    assert.equal(firstTokens.claims().acr, "aal2");
    await page.goto(oidc.buildEndSessionUrl(config, { id_token_hint: firstTokens.id_token, post_logout_redirect_uri: site.loggedOut }).href);
    await landedAt(page, site.loggedOut);

    // the trusted device skips the second step: one factor, aal1
    const plain = await authorization(config, site.callback);
    await page.goto(plain.url.href);
    await signInOnPages(page, db, email, null);
    const plainTokens = await redeem(config, await landedAt(page, site.callback), plain);
    const plainClaims = plainTokens.claims();
    assert.equal(plainClaims.acr, "aal1");
    assert.ok(!plainClaims.amr.includes("mfa"), `amr ${JSON.stringify(plainClaims.amr)}`);

    // an ID token is no access token (RFC 9068's typ tells them apart)
    const mistaken = await callResource(config, rs, plainTokens.id_token);
    assert.equal(mistaken.status, 401);
    assert.equal(mistaken.challenge.error, "invalid_token");

    // the resource server wants aal2: RFC 9470's challenge
    const refused = await callResource(config, rs, plainTokens.access_token);
    assert.equal(refused.status, 401);
    assert.equal(refused.challenge.error, "insufficient_user_authentication");
    assert.equal(refused.challenge.acr_values, "aal2");

    // prompt=none cannot step anyone up: interaction_required (OIDC Core 3.1.2.6)
    const quiet = await authorization(config, site.callback, { prompt: "none", acr_values: "aal2" });
    await page.goto(quiet.url.href);
    await assert.rejects(redeem(config, await landedAt(page, site.callback), quiet), isError("interaction_required"));

    // the person cancels the step-up dialog: the client hears access_denied, with state and iss
    const cancelled = await authorization(config, site.callback, { acr_values: "aal2" });
    await page.goto(cancelled.url.href);
    await page.getByRole("dialog", { name: "Confirm it's you" }).getByRole("link", { name: "Cancel" }).click();
    const cancelledBack = await landedAt(page, site.callback);
    assert.equal(cancelledBack.searchParams.get("iss"), db.url);
    await assert.rejects(redeem(config, cancelledBack, cancelled), isError("access_denied"));

    // the client asks for what the challenge names; Deadbolt shows its step-up dialog
    const up = await authorization(config, site.callback, {
      acr_values: refused.challenge.acr_values,
      max_age: refused.challenge.max_age,
    });
    await page.goto(up.url.href);
    await stepUpOnPages(page, secret);
    const upTokens = await redeem(config, await landedAt(page, site.callback), up, { maxAge: Number(refused.challenge.max_age) });
    const upClaims = upTokens.claims();
    assert.equal(upClaims.sub, plainClaims.sub);
    assert.equal(upClaims.acr, "aal2");
    for (const m of ["otp", "mfa"]) assert.ok(upClaims.amr.includes(m), `amr ${JSON.stringify(upClaims.amr)} has ${m}`);
    const served = await callResource(config, rs, upTokens.access_token);
    assert.equal(served.status, 200, JSON.stringify(served));
    assert.equal(served.body.acr, "aal2");

    // later the resource server wants a sign-in within 10 s: max_age sends the person
    // through the dialog again, and auth_time moves
    await sleep(11000);
    policy.maxAge = 10;
    const stale = await callResource(config, rs, upTokens.access_token);
    assert.equal(stale.status, 401);
    assert.equal(stale.challenge.max_age, "10");
    const again = await authorization(config, site.callback, { acr_values: stale.challenge.acr_values, max_age: stale.challenge.max_age });
    await page.goto(again.url.href);
    await stepUpOnPages(page, secret);
    const againTokens = await redeem(config, await landedAt(page, site.callback), again, { maxAge: 10 });
    const againClaims = againTokens.claims();
    assert.ok(againClaims.auth_time > upClaims.auth_time, "a new authentication");
    assert.equal(againClaims.acr, "aal2");
    const servedAgain = await callResource(config, rs, againTokens.access_token);
    assert.equal(servedAgain.status, 200, JSON.stringify(servedAgain));
  });
});

// ---- d. what must fail, and how ----

test("errors and edges: prompt=none without a session, unknown client and unregistered redirect_uri (an HTML page, no redirect), replayed code, wrong PKCE verifier, wrong redirect_uri, reused refresh token, aal2 without a second factor (enrolment first), consent, public client, logout confirmation, expired code", async () => {
  await scenario(async ({ db, page, cleanup }) => {
    const site = await clientSite();
    cleanup(site.close);
    const other = `${site.base}/other-callback`;
    const client = registerClient(db, {
      name: "Node app",
      redirectUris: [site.callback, other],
      postLogoutRedirectUris: [site.loggedOut],
    });
    const config = await configure(db, client, { auth: oidc.ClientSecretPost(client.client_secret) });
    const metadata = config.serverMetadata();

    // prompt=none and no session: back to the client with login_required, state and iss
    const silent = await authorization(config, site.callback, { prompt: "none" });
    const r1 = await fetch(silent.url, { redirect: "manual" });
    assert.ok([302, 303].includes(r1.status), `status ${r1.status}`);
    const back1 = new URL(r1.headers.get("location"));
    assert.ok(back1.href.startsWith(site.callback));
    assert.equal(back1.searchParams.get("error"), "login_required");
    assert.equal(back1.searchParams.get("state"), silent.state);
    assert.equal(back1.searchParams.get("iss"), db.url);
    await assert.rejects(redeem(config, back1, silent), isError("login_required"));

    // response_type other than code: an error sent back to the (known, registered) client
    const token = await authorization(config, site.callback, { response_type: "token" });
    const r2 = await fetch(token.url, { redirect: "manual" });
    const back2 = new URL(r2.headers.get("location"));
    assert.ok(back2.href.startsWith(site.callback), back2.href);
    assert.equal(back2.searchParams.get("error"), "unsupported_response_type");
    assert.equal(back2.searchParams.get("state"), token.state);
    assert.equal(back2.searchParams.get("iss"), db.url);

    // PKCE's plain method is not offered (discovery says S256 only): refused
    const plain = await authorization(config, site.callback);
    plain.url.searchParams.set("code_challenge", plain.verifier);
    plain.url.searchParams.set("code_challenge_method", "plain");
    const r3 = await fetch(plain.url, { redirect: "manual" });
    const back3 = new URL(r3.headers.get("location"));
    assert.ok(back3.href.startsWith(site.callback), back3.href);
    assert.equal(back3.searchParams.get("error"), "invalid_request");
    assert.equal(back3.searchParams.get("iss"), db.url);

    // an unknown client, or a redirect_uri not registered: Deadbolt's own error page
    const unknown = await authorization(config, site.callback);
    unknown.url.searchParams.set("client_id", "dbc_nobody");
    const evil = await authorization(config, "http://127.0.0.1:9/evil");
    for (const url of [unknown.url, evil.url]) {
      const r = await fetch(url, { redirect: "manual" });
      assert.equal(r.status, 400, `${url}: ${r.status}`);
      assert.equal(r.headers.get("location"), null, "never a redirect");
      assert.match(r.headers.get("content-type"), /^text\/html/);
      const shown = await page.goto(url.href);
      assert.equal(shown.status(), 400);
      assert.ok(page.url().startsWith(db.url), "the browser stays at Deadbolt");
    }

    // a person signs in (no MFA): aal1 with amr pwd
    const email = "lin@example.com";
    await createPerson(db, email);
    const first = await authorization(config, site.callback);
    await page.goto(first.url.href);
    await signInOnPages(page, db, email, null);
    const firstTokens = await redeem(config, await landedAt(page, site.callback), first);
    assert.equal(firstTokens.claims().acr, "aal1");
    assert.deepEqual(firstTokens.claims().amr, ["pwd"]);

    // a used refresh token presented again: refused, and the grant ends (the Security BCP's
    // reuse detection), so its successor is refused too
    const rotated = await oidc.refreshTokenGrant(config, firstTokens.refresh_token);
    await assert.rejects(oidc.refreshTokenGrant(config, firstTokens.refresh_token), isError("invalid_grant"));
    await assert.rejects(oidc.refreshTokenGrant(config, rotated.refresh_token), isError("invalid_grant"));

    // a wrong client secret, by either method: invalid_client, 401 (RFC 6749 5.2)
    for (const auth of [oidc.ClientSecretPost("dbcs_wrong"), oidc.ClientSecretBasic("dbcs_wrong")]) {
      const wrong = await configure(db, { client_id: client.client_id, client_secret: "dbcs_wrong" }, { auth });
      await assert.rejects(oidc.tokenIntrospection(wrong, firstTokens.access_token), (e) => {
        assert.equal(e.status, 401, `${e.name}: ${e.message}`);
        if (e instanceof oidc.ResponseBodyError) assert.equal(e.error, "invalid_client");
        return true;
      });
    }

    // aal2 asked of an account with no second factor: the enrolment wizard first, whose last
    // page goes back to the waiting request, which then steps up with the new factor
    const unmet = await authorization(config, site.callback, { acr_values: "aal2" });
    await page.goto(unmet.url.href);
    await page.waitForURL((u) => u.origin === db.url && u.pathname === "/account/mfa/new");
    await page.getByRole("button", { name: "Set up authenticator app" }).click();
    const secret = (await page.locator("#totp-secret").innerText()).replace(/\s+/g, "");
    await page.getByLabel("6-digit code from the app").fill(await freshCode(secret));
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.getByRole("heading", { name: "Save your recovery codes" }).waitFor();
    await page.getByLabel("I have saved my recovery codes").check();
    await page.getByRole("button", { name: "Finish" }).click();
    await stepUpOnPages(page, secret);
    const enrolled = (await redeem(config, await landedAt(page, site.callback), unmet)).claims();
    assert.equal(enrolled.acr, "aal2");
    for (const m of ["pwd", "otp", "mfa"]) assert.ok(enrolled.amr.includes(m), `amr ${JSON.stringify(enrolled.amr)} has ${m}`);

    /** A code for `req`, from the live session (no page in between for a first-party client). */
    async function codeFor(req, redirect = site.callback) {
      await page.goto(req.url.href);
      return landedAt(page, redirect);
    }

    // a code that will expire: codes live 60 s
    const expiring = await authorization(config, site.callback);
    const expiringBack = await codeFor(expiring);
    const expiringSince = Date.now();

    // a code used twice: invalid_grant, and the tokens of its first use are revoked
    // (RFC 6749 4.1.2, and the OAuth 2.0 Security BCP)
    const replayed = await authorization(config, site.callback);
    const replayedBack = await codeFor(replayed);
    const once = await redeem(config, replayedBack, replayed);
    await assert.rejects(redeem(config, replayedBack, replayed), isError("invalid_grant"));
    await assert.rejects(oidc.refreshTokenGrant(config, once.refresh_token), isError("invalid_grant"));
    assert.equal((await oidc.tokenIntrospection(config, once.access_token)).active, false, "its access token too");

    // the wrong PKCE verifier (RFC 7636 4.6)
    const pkce = await authorization(config, site.callback);
    const pkceBack = await codeFor(pkce);
    await assert.rejects(redeem(config, pkceBack, { ...pkce, verifier: oidc.randomPKCECodeVerifier() }), isError("invalid_grant"));

    // a redirect_uri at the token endpoint other than the one the code was sent to (RFC 6749
    // 4.1.3), though it is registered too
    const moved = await authorization(config, site.callback);
    const movedBack = await codeFor(moved);
    await assert.rejects(redeem(config, new URL(`${other}${movedBack.search}`), moved), isError("invalid_grant"));

    // a third-party client: the consent page lists the scopes; denied, then allowed
    const partner = registerClient(db, { name: "Partner app", redirectUris: [site.callback], thirdParty: true });
    const partnerConfig = await configure(db, partner);
    const denied = await authorization(partnerConfig, site.callback, { scope: "openid email" });
    await page.goto(denied.url.href);
    await page.waitForURL((u) => u.origin === db.url && u.pathname === "/oauth2/consent");
    const consentText = await page.locator("body").innerText();
    assert.match(consentText, /Partner app/);
    assert.match(consentText, /email/i);
    await page.locator("button[name=decision][value=deny]").click();
    const deniedBack = await landedAt(page, site.callback);
    assert.equal(deniedBack.searchParams.get("error"), "access_denied");
    assert.equal(deniedBack.searchParams.get("state"), denied.state);
    assert.equal(deniedBack.searchParams.get("iss"), db.url);
    const allowed = await authorization(partnerConfig, site.callback, { scope: "openid email" });
    await page.goto(allowed.url.href);
    await page.waitForURL((u) => u.origin === db.url && u.pathname === "/oauth2/consent");
    await page.locator("button[name=decision][value=allow]").click();
    const allowedTokens = await redeem(partnerConfig, await landedAt(page, site.callback), allowed);
    // remembered: no page the next time for the same scopes; prompt=consent asks again;
    // prompt=none for a scope not yet allowed is consent_required
    const remembered = await authorization(partnerConfig, site.callback, { scope: "openid email" });
    assert.ok((await redeem(partnerConfig, await codeFor(remembered), remembered)).access_token);
    const askAgain = await authorization(partnerConfig, site.callback, { scope: "openid email", prompt: "consent" });
    await page.goto(askAgain.url.href);
    await page.waitForURL((u) => u.origin === db.url && u.pathname === "/oauth2/consent");
    await page.locator("button[name=decision][value=allow]").click();
    assert.ok((await redeem(partnerConfig, await landedAt(page, site.callback), askAgain)).access_token);
    const more = await authorization(partnerConfig, site.callback, { scope: "openid email phone", prompt: "none" });
    await assert.rejects(redeem(partnerConfig, await codeFor(more), more), isError("consent_required"));
    // a code is good only for the client it was issued to
    const theirs = await authorization(config, site.callback);
    await assert.rejects(redeem(partnerConfig, await codeFor(theirs), theirs), isError("invalid_grant"));
    assert.equal((await oidc.fetchUserInfo(partnerConfig, allowedTokens.access_token, allowedTokens.claims().sub)).email, email);

    // a public client: PKCE is its only proof, and it is required (this one takes RS256 ID
    // tokens, the server's default)
    const app = registerClient(db, { name: "Phone app", redirectUris: [site.callback], isPublic: true, alg: "RS256" });
    const appConfig = await configure(db, app, { alg: "RS256" });
    const pub = await authorization(appConfig, site.callback);
    const pubTokens = await redeem(appConfig, await codeFor(pub), pub);
    assert.ok(pubTokens.access_token);
    assert.equal(jose.decodeProtectedHeader(pubTokens.id_token).alg, "RS256");
    const noPkce = oidc.buildAuthorizationUrl(appConfig, { redirect_uri: site.callback, scope: "openid", state: "s-no-pkce" });
    const noPkceBack = await codeFor({ url: noPkce });
    assert.equal(noPkceBack.searchParams.get("error"), "invalid_request", noPkceBack.href);
    assert.equal(noPkceBack.searchParams.get("state"), "s-no-pkce");
    const pubWrong = await authorization(appConfig, site.callback);
    await assert.rejects(redeem(appConfig, await codeFor(pubWrong), { ...pubWrong, verifier: oidc.randomPKCECodeVerifier() }), isError("invalid_grant"));
    // introspection is for confidential clients (RFC 7662 2.1: the caller authenticates)
    await assert.rejects(oidc.tokenIntrospection(appConfig, pubTokens.access_token), (e) => {
      assert.ok([400, 401].includes(e.status), `${e.name}: ${e.message}`);
      return true;
    });

    // logout to a post_logout_redirect_uri not registered: never sent there
    const stray = new URL(metadata.end_session_endpoint);
    stray.searchParams.set("id_token_hint", firstTokens.id_token);
    stray.searchParams.set("post_logout_redirect_uri", "http://127.0.0.1:9/evil");
    const strayAnswer = await fetch(stray, { redirect: "manual" });
    assert.ok(!(strayAnswer.headers.get("location") || "").startsWith("http://127.0.0.1:9/"), "not to an unregistered URI");

    // logout without a hint: Deadbolt asks first
    await page.goto(metadata.end_session_endpoint);
    await page.locator("button[name=decision][value=sign_out]").click();
    await page.locator("button[name=decision][value=sign_out]").waitFor({ state: "detached" });
    const afterLogout = await authorization(config, site.callback, { prompt: "none" });
    const afterBack = await codeFor(afterLogout);
    assert.equal(afterBack.searchParams.get("error"), "login_required", "signed out");

    // the code from the start, past its 60 s
    const wait = expiringSince + 61000 - Date.now();
    if (wait > 0) await sleep(wait);
    await assert.rejects(redeem(config, expiringBack, expiring), isError("invalid_grant"));
  });
});

// ---- a product that keeps its own accounts: a signed request object (RFC 9101) ----

test("openid-client: a signed request object (buildAuthorizationUrlWithJAR) names the product's own user; the first factor is set up, the ID token's sub is the product's id, and the next sign-in asks for the factor again", async () => {
  await scenario(async ({ db, page, cleanup }) => {
    const site = await clientSite();
    cleanup(site.close);
    // the product's key: the private half stays with it, the public half is registered
    const { publicKey, privateKey } = await jose.generateKeyPair("ES256", { extractable: true });
    const jwk = { ...(await jose.exportJWK(publicKey)), kid: "product-1", use: "sig", alg: "ES256" };
    const jwksFile = join(mkdtempSync(join(tmpdir(), "deadbolt-jwks-")), "jwks.json");
    writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
    const client = registerClient(db, { name: "Shop", redirectUris: [site.callback], jwksFile });
    const config = await configure(db, client, { alg: "EdDSA" });
    assert.equal(config.serverMetadata().request_parameter_supported, true);
    assert.ok(config.serverMetadata().request_object_signing_alg_values_supported.includes("ES256"));

    /** After the product's own password check: a signed request naming its user "shop-7". */
    async function signedRequest() {
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const url = await oidc.buildAuthorizationUrlWithJAR(
        config,
        {
          redirect_uri: site.callback,
          scope: "openid email",
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: "S256",
          state,
          nonce,
          // the library carries every parameter as a string: the object's JSON text
          deadbolt_subject: JSON.stringify({ external_id: "shop-7", email: "seven@shop.example", email_verified: true }),
        },
        { key: privateKey, kid: "product-1" },
      );
      return { url, verifier, state, nonce };
    }

    const first = await signedRequest();
    assert.ok(first.url.searchParams.get("request"), "the parameters travel signed");
    assert.equal(first.url.searchParams.get("redirect_uri"), null, "and only signed");
    await page.goto(first.url.href);
    // no password form: the product checked it; no factor yet, so the wizard
    await page.waitForURL((u) => u.origin === db.url && u.pathname === "/account/mfa/new");
    await page.getByRole("button", { name: "Set up authenticator app" }).click();
    const secret = (await page.locator("#totp-secret").innerText()).replace(/\s+/g, "");
    await page.getByLabel("6-digit code from the app").fill(await freshCode(secret));
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.getByRole("heading", { name: "Save your recovery codes" }).waitFor();
    await page.getByLabel("I have saved my recovery codes").check();
    await page.getByRole("button", { name: "Finish" }).click();
    const enrolled = (await redeem(config, await landedAt(page, site.callback), first)).claims();
    assert.equal(enrolled.sub, "shop-7", "the product's own id");
    assert.equal(enrolled.acr, "aal2");
    assert.deepEqual(enrolled.amr, ["otp", "mfa"], "the product's password is not Deadbolt's to name");
    assert.equal(enrolled.email, "seven@shop.example");

    // the next sign-in at the product, in the same browser: the factor is asked again
    const again = await signedRequest();
    await page.goto(again.url.href);
    await page.waitForURL(/\/sign-in\/verify/);
    await page.getByLabel("6-digit code from your authenticator app").fill(await freshCode(secret));
    await page.getByRole("button", { name: "Continue" }).click();
    const second = (await redeem(config, await landedAt(page, site.callback), again)).claims();
    assert.equal(second.sub, "shop-7");
    // the challenge page above was the new check; its time is not before the enrolment's
    assert.ok(second.auth_time >= enrolled.auth_time, "auth_time is this sign-in's");

    // the same signed request used twice: refused with a page, sent nowhere
    const replay = await fetch(again.url, { redirect: "manual" });
    assert.equal(replay.status, 400);
    assert.equal(replay.headers.get("location"), null);
  });
});
