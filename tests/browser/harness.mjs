// The browser tests' world: the real `deadbolt` binary on a free port with a fresh SQLite
// database, a real SMTP server receiving its mail (tests/support/smtp_sink.py, aiosmtpd),
// Debian's Chromium driven by playwright-core, and TOTP codes from an implementation of
// RFC 6238 written here (not the server's).

import { spawn, spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, "../..");
export const PASSWORD = "correct horse battery staple";
export const artifacts = join(here, "artifacts");

/** The server binary: $DEADBOLT_BIN, else the debug build in the cargo target directory. */
export function binary() {
  if (process.env.DEADBOLT_BIN) return process.env.DEADBOLT_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(repo, "target");
  return join(target, "debug", "deadbolt");
}

export function chromiumPath() {
  return process.env.CHROMIUM || "/usr/bin/chromium";
}

export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.unref();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The SMTP sink: every message it accepted, and a way to wait for the next one to someone. */
class MailSink {
  constructor(port) {
    this.port = port;
    this.mails = [];
    this.seen = 0;
    this.proc = spawn("python3", [join(repo, "tests/support/smtp_sink.py"), "--port", String(port)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let buffer = "";
    this.ready = new Promise((ok) => {
      this.proc.stdout.on("data", (chunk) => {
        buffer += chunk.toString();
        let nl;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line === "READY") ok();
          else if (line.startsWith("{")) this.mails.push(JSON.parse(line));
        }
      });
    });
  }

  /** The next message to `to` not yet taken, within `ms`. */
  async next(to, ms = 15000) {
    const until = Date.now() + ms;
    for (;;) {
      const i = this.mails.findIndex((m, i) => !m.taken && m.rcpt_tos.includes(to));
      if (i >= 0) {
        this.mails[i].taken = true;
        return this.mails[i];
      }
      if (Date.now() > until) throw new Error(`no mail to ${to} within ${ms} ms`);
      await sleep(100);
    }
  }

  /** The 6-digit code in the next message to `to` that carries one (notices are skipped). */
  async code(to) {
    const until = Date.now() + 15000;
    for (;;) {
      const mail = await this.next(to, Math.max(until - Date.now(), 1));
      const codes = mail.text.match(/\b\d{6}\b/g) || [];
      if (codes.length === 1) return codes[0];
    }
  }

  stop() {
    this.proc.kill("SIGTERM");
  }
}

/** A running Deadbolt: its URL, its data directory, its mail. */
export class Deadbolt {
  static async start(extraEnv = {}) {
    const dir = mkdtempSync(join(tmpdir(), "deadbolt-browser-"));
    const port = await freePort();
    const smtpPort = await freePort();
    const mail = new MailSink(smtpPort);
    await mail.ready;
    const env = {
      ...process.env,
      DEADBOLT_SERVER__BIND: `127.0.0.1:${port}`,
      DEADBOLT_SERVER__PUBLIC_URL: `http://localhost:${port}`,
      DEADBOLT_DATABASE__URL: `sqlite://${dir}/deadbolt.db`,
      DEADBOLT_SECRETS__MASTER_KEY_FILE: `${dir}/master.key`,
      DEADBOLT_EMAIL__SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      DEADBOLT_WEBAUTHN__RP_ID: "localhost",
      DEADBOLT_WEBAUTHN__RP_ORIGIN: `http://localhost:${port}`,
      // cheap hashing keeps the tests fast; the rules around it are the same
      DEADBOLT_PASSWORD__MEMORY_KIB: "256",
      DEADBOLT_PASSWORD__ITERATIONS: "1",
      DEADBOLT_LOG__LEVEL: "warn",
      ...extraEnv,
    };
    const db = new Deadbolt(dir, port, mail, env);
    db.proc = spawn(binary(), ["serve"], { env, stdio: ["ignore", "inherit", "inherit"] });
    const until = Date.now() + 30000;
    for (;;) {
      try {
        const r = await fetch(`${db.url}/healthz`);
        if (r.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > until) throw new Error("deadbolt did not start");
      await sleep(100);
    }
    return db;
  }

  constructor(dir, port, mail, env) {
    this.dir = dir;
    this.port = port;
    this.url = `http://localhost:${port}`;
    this.mail = mail;
    this.env = env;
  }

  /** `deadbolt admin create` against the same database. */
  createAdmin(email, password = PASSWORD) {
    const r = spawnSync(binary(), ["admin", "create", "--email", email, "--password-stdin", "--role", "admin"], {
      env: this.env,
      input: password + "\n",
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`admin create failed: ${r.stderr}`);
  }

  async stop() {
    if (this.proc) {
      this.proc.kill("SIGTERM");
      await new Promise((ok) => {
        if (this.proc.exitCode !== null) ok();
        else this.proc.on("exit", ok);
      });
    }
    this.mail.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Headless Chromium (Debian's) with a fresh profile, as a playwright-core browser context. */
export async function browser(options = {}) {
  const profile = mkdtempSync(join(tmpdir(), "deadbolt-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath(),
    headless: true,
    viewport: options.viewport || { width: 1100, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  context.setDefaultTimeout(10000);
  const page = context.pages()[0] || (await context.newPage());
  const close = async (failed) => {
    if (failed) {
      // what the page showed when the test failed, for whoever reads the log
      mkdirSync(artifacts, { recursive: true });
      const name = `failure-${Date.now()}.png`;
      await page.screenshot({ path: join(artifacts, name), fullPage: true }).catch(() => {});
      const text = await page.locator("body").innerText().catch(() => "");
      console.log(`failed at ${page.url()} (screenshot ${name}):\n${text.slice(0, 1500)}`);
    }
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close, page };
}

// ---- TOTP (RFC 6238), written here from the RFC, independent of the server's code ----

export function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const clean = text.replace(/[\s=]/g, "").toUpperCase();
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function hotp(key, counter, digits = 6, algorithm = "sha1") {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, key).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const bin = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(bin).padStart(digits, "0");
}

export function totpAt(secretBase32, unixSeconds, period = 30, digits = 6) {
  return hotp(base32Decode(secretBase32), Math.floor(unixSeconds / period), digits);
}

const usedSteps = new Map();

/**
 * A code for a time step this secret has not used yet: the server takes each step once per
 * method and accepts one step either side of now, so this waits only when both the current
 * and the next step are spent.
 */
export async function freshCode(secret) {
  for (;;) {
    const now = Math.floor(Date.now() / 1000);
    const step = Math.floor(now / 30);
    const last = usedSteps.get(secret) ?? -1;
    const candidate = Math.max(step, last + 1);
    // keep a margin from the edge of the accepted window
    if (candidate <= step + 1 && !(candidate === step + 1 && now % 30 < 3)) {
      usedSteps.set(secret, candidate);
      return hotp(base32Decode(secret), candidate);
    }
    await sleep(1000);
  }
}

export function screenshotsDir() {
  const d = join(repo, "docs", "screenshots");
  mkdirSync(d, { recursive: true });
  return d;
}
