#!/usr/bin/env python3
"""Delivery survives a crash: messages accepted while the mail server and the SMS receiver are
down, the server killed with SIGKILL in the middle of delivery once they are back, restarted:
every message must arrive, and any that arrives twice is counted.

    python3 scripts/crash-delivery.py --database sqlite
    python3 scripts/crash-delivery.py --database postgres --instances 2

The run:
 1. reserves two ports that refuse connections (bound, not listening): a real SMTP server
    (aiosmtpd) and an HTTP receiver in the shape of Deadbolt's SMS webhook will listen there;
 2. starts the release server (`deadbolt serve`; --instances of them on PostgreSQL, sharing one
    database and its outbox) with SMTP and the webhook pointed at those ports;
 3. signs up accounts through the public API, each with an email and a phone, until --messages
    messages are queued (a verification mail and a verification text per account), and checks
    that the outbox holds exactly those, none delivered;
 4. waits --outage seconds more, so that the messages are deep in their retry backoff, then
    brings both receivers up;
 5. once --kill-at of the messages have arrived, kills the server (every instance, or with
    --kill one the first only) with SIGKILL, and starts it again at once;
 6. waits until the outbox has nothing pending and every message has arrived (or --timeout);
 7. counts, by X-Deadbolt-Message-Id and, for mail, by SMTP Message-ID: messages expected,
    delivered, lost, and delivered more than once.

Exits 0 when nothing was lost, nothing is left pending or dead, every mail's two ids agree, every
text's signature verifies, and every duplicate is one the kill explains: its first copy arrived
before the kill and its next after the restart (a crash between the receiver's acceptance and the
database's record of it; the receiver drops it by its id). --max-duplicates N fails the run past
N of those too. Without --postgres-url (or DEADBOLT_TEST_POSTGRES_URL), `--database postgres`
runs itself again under scripts/with-postgres.sh, which makes a throwaway cluster (as root).

The receivers record ids, never bodies: the bodies carry codes, and nothing here prints them.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

from aiosmtpd.smtp import SMTP

REPO = Path(__file__).resolve().parent.parent
PSQL = "/usr/lib/postgresql/15/bin/psql"


def log(*parts: object) -> None:
    print("crash-delivery:", *parts, flush=True)


def reserve_port() -> socket.socket:
    """A socket bound to a free port but not listening: connections to it are refused, which is
    what a peer that is down looks like, and the port stays ours until the receiver takes it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s


@dataclass
class Receipt:
    """One message as a receiver took it: its ids and when (monotonic seconds)."""

    channel: str
    deadbolt_id: str
    message_id: str | None
    at: float
    wall: float = field(default_factory=time.time)


@dataclass
class Received:
    """Everything both receivers accepted, in order, also appended to a JSON-lines file."""

    path: Path
    receipts: list[Receipt] = field(default_factory=list)
    distinct: set[str] = field(default_factory=set)
    bad_signatures: int = 0

    def add(self, r: Receipt) -> None:
        # recorded before the receiver answers, as a real receiver would store it
        self.receipts.append(r)
        self.distinct.add(r.deadbolt_id)
        with self.path.open("a") as f:
            f.write(json.dumps(r.__dict__) + "\n")


class SmtpSink:
    """aiosmtpd handler: records each message's X-Deadbolt-Message-Id and Message-ID, then 250."""

    def __init__(self, received: Received) -> None:
        self.received = received

    async def handle_DATA(self, server, session, envelope) -> str:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(envelope.original_content)
        self.received.add(
            Receipt(
                channel="email",
                deadbolt_id=str(headers.get("X-Deadbolt-Message-Id", "")).strip(),
                message_id=str(headers.get("Message-ID", "")).strip(),
                at=time.monotonic(),
            )
        )
        return "250 2.0.0 OK"


async def sms_receiver(received: Received, secret: bytes, reader, writer) -> None:
    """Deadbolt's SMS webhook shape, HTTP/1.1 with keep-alive: checks the signature, records the
    X-Deadbolt-Message-Id, answers 200."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            sig = dict(p.split("=", 1) for p in headers.get("x-deadbolt-signature", "").split(",") if "=" in p)
            expected = hmac.new(secret, sig.get("t", "").encode() + b"." + body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, sig.get("v1", "")):
                received.bad_signatures += 1
            received.add(
                Receipt(channel="sms", deadbolt_id=headers.get("x-deadbolt-message-id", ""), message_id=None, at=time.monotonic())
            )
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
        # the server closed the connection (or was killed), or the run is over
        pass
    finally:
        writer.close()


class Database:
    """The outbox as the harness reads it: SQLite through the stdlib, PostgreSQL through psql."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, sql: str) -> list[list[str]]:
        if self.url.startswith("sqlite://"):
            path = self.url.removeprefix("sqlite://")
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as conn:
                return [[str(v) for v in row] for row in conn.execute(sql)]
        out = subprocess.run(
            [PSQL, self.url, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            check=True, capture_output=True, text=True,
        ).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def statuses(self) -> dict[str, int]:
        return {s: int(n) for s, n in self.rows("SELECT status, COUNT(*) FROM outbox GROUP BY status")}


class Instance:
    """One `deadbolt serve` process, restartable with the same configuration."""

    def __init__(self, n: int, args, config: Path, work: Path) -> None:
        self.n = n
        self.args = args
        self.config = config
        sock = reserve_port()
        self.port = sock.getsockname()[1]
        sock.close()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = work / f"instance-{n}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(os.environ)
        env.pop("RUST_LOG", None)
        env["DEADBOLT_SERVER__BIND"] = f"127.0.0.1:{self.port}"
        env["DEADBOLT_SERVER__PUBLIC_URL"] = self.base
        with self.log_path.open("a") as out:
            out.write(f"---- start {time.strftime('%H:%M:%S')} ----\n")
            out.flush()
            self.proc = subprocess.Popen(
                [self.args.bin, "serve", "--config", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
            )

    async def ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"instance {self.n} exited at start ({self.proc.returncode}); see {self.log_path}")
            try:
                status, _ = await asyncio.to_thread(http, "GET", f"{self.base}/readyz", None)
                if status == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError(f"instance {self.n} not ready within {timeout}s; see {self.log_path}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def http(method: str, url: str, body: dict | None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def sign_up(base: str, run: str, i: int, with_phone: bool) -> None:
    body = {"email": f"crash-{run}-{i}@example.com", "password": f"crash-{run}-password-{i}"}
    if with_phone:
        body["phone"] = f"+1555{i:07d}"
    for _ in range(20):
        status, answer = http("POST", f"{base}/v1/accounts", body)
        if status == 201:
            return
        if status != 503:  # a full hash pool says: again, later
            break
        time.sleep(0.05)
    problem = json.loads(answer or b"{}").get("error", "?")
    raise RuntimeError(f"sign-up {i}: {status} {problem}")


def toml_string(s: str) -> str:
    return json.dumps(s)


def write_config(work: Path, db_url: str, smtp_port: int, sms_port: int, secret: str) -> Path:
    path = work / "deadbolt.toml"
    path.write_text(
        f"""[database]
url = {toml_string(db_url)}
pool_size = 8
[secrets]
master_key_file = {toml_string(str(work / "master.key"))}
[email]
smtp_url = "smtp://127.0.0.1:{smtp_port}"
from = "Deadbolt <no-reply@crash.test>"
[sms]
provider = "webhook"
webhook_url = "http://127.0.0.1:{sms_port}/sms"
webhook_secret = {toml_string(secret)}
[mfa]
# the sign-up's verification text goes out only where policy allows texts
allowed_methods = ["totp", "webauthn", "email", "sms", "recovery_code"]
[password]
# the accounts only carry messages: their hashes are not what is tested
memory_kib = 256
iterations = 1
min_score = 0
hash_queue = 4096
[limits]
signups_per_ip_per_hour = 1000000
[log]
level = "info"
"""
    )
    return path


@dataclass
class Outcome:
    lines: list[str]
    failures: list[str]
    figures: dict


def count(args, expected: dict[str, str], received: Received, kill_at: float, restart_at: float,
          statuses: dict[str, int]) -> Outcome:
    lines: list[str] = []
    failures: list[str] = []
    by_id: dict[str, list[Receipt]] = {}
    by_message_id: dict[str, list[Receipt]] = {}
    for r in received.receipts:
        by_id.setdefault(r.deadbolt_id, []).append(r)
        if r.message_id is not None:
            by_message_id.setdefault(r.message_id, []).append(r)
    lost = sorted(i for i in expected if i not in by_id)
    unknown = sorted(i for i in by_id if i not in expected)
    twice = {i: rs for i, rs in by_id.items() if len(rs) > 1}
    twice_mid = {m: rs for m, rs in by_message_id.items() if len(rs) > 1}
    mismatched = sum(1 for r in received.receipts if r.message_id is not None
                     and r.message_id != f"<{r.deadbolt_id}@crash.test>")
    # A duplicate the kill explains: one copy sent before the kill, the next after the restart.
    unexplained = {i: rs for i, rs in twice.items()
                   if len(rs) != 2 or not (rs[0].at < restart_at <= rs[1].at)}
    channels = {c: sum(1 for v in expected.values() if v == c) for c in ("email", "sms")}
    lines.append(f"expected      {len(expected)} ({channels['email']} email, {channels['sms']} sms)")
    lines.append(f"delivered     {len(by_id.keys() & expected.keys())} distinct, {len(received.receipts)} receipts")
    lines.append(f"lost          {len(lost)}")
    lines.append(
        f"duplicated    {len(twice)} by X-Deadbolt-Message-Id "
        f"({sum(1 for i in twice if expected.get(i) == 'email')} email, {sum(1 for i in twice if expected.get(i) == 'sms')} sms), "
        f"{len(twice_mid)} by Message-ID"
    )
    for i, rs in sorted(twice.items(), key=lambda kv: kv[1][0].at):
        gaps = ", ".join(f"{(r.at - kill_at) * 1000:+.0f} ms" for r in rs)
        lines.append(f"  twice: {expected.get(i, '?')} {i}: copies at {gaps} from the kill")
    lines.append(f"outbox        {json.dumps(statuses, sort_keys=True)}")
    if lost:
        failures.append(f"{len(lost)} lost, e.g. {lost[:5]}")
    if unknown:
        failures.append(f"{len(unknown)} received that were never queued, e.g. {unknown[:5]}")
    if unexplained:
        failures.append(f"{len(unexplained)} duplicates the kill does not explain: {sorted(unexplained)[:5]}")
    if args.max_duplicates is not None and len(twice) > args.max_duplicates:
        failures.append(f"{len(twice)} duplicates, more than --max-duplicates {args.max_duplicates}")
    if mismatched:
        failures.append(f"{mismatched} mails whose Message-ID does not match their X-Deadbolt-Message-Id")
    if received.bad_signatures:
        failures.append(f"{received.bad_signatures} texts with a bad webhook signature")
    if statuses.get("pending", 0) or statuses.get("dead", 0):
        failures.append(f"the outbox is not drained: {statuses}")
    figures = {
        "expected": len(expected), "lost": len(lost), "duplicated_by_deadbolt_id": len(twice),
        "duplicated_by_message_id": len(twice_mid), "outbox": statuses,
    }
    return Outcome(lines, failures, figures)


async def run(args, work: Path, db_url: str) -> int:
    received = Received(work / "received.jsonl")
    smtp_sock, sms_sock = reserve_port(), reserve_port()
    secret = secrets.token_hex(24)
    config = write_config(work, db_url, smtp_sock.getsockname()[1], sms_sock.getsockname()[1], secret)
    db = Database(db_url)
    instances = [Instance(n, args, config, work) for n in range(1, args.instances + 1)]
    servers: list[asyncio.AbstractServer] = []
    try:
        # one at a time: the first makes the master key and the service keys the others use
        for inst in instances:
            inst.start()
            await inst.ready()
        log(f"{args.database}, {args.instances} instance(s) up; receivers down; queuing {args.messages} messages")

        # Sign-ups: each account gets a verification mail and (with a phone) a verification text.
        run_tag = secrets.token_hex(3)
        accounts = (args.messages + 1) // 2
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
            await asyncio.gather(*(
                loop.run_in_executor(pool, sign_up, instances[i % len(instances)].base, run_tag, i,
                                     2 * i + 1 < args.messages)
                for i in range(accounts)
            ))
        rows = await asyncio.to_thread(db.rows, "SELECT id, channel, status FROM outbox")
        expected = {r[0]: r[1] for r in rows}
        statuses = await asyncio.to_thread(db.statuses)
        log(f"{len(expected)} messages queued in {time.monotonic() - started:.1f} s; outbox {json.dumps(statuses, sort_keys=True)}")
        if len(expected) != args.messages or statuses != {"pending": args.messages} or received.receipts:
            log(f"FAILED: expected {args.messages} pending messages and nothing delivered")
            return 1

        await asyncio.sleep(args.outage)
        smtp_server = await loop.create_server(
            lambda: SMTP(SmtpSink(received), hostname="localhost", enable_SMTPUTF8=True), sock=smtp_sock
        )
        sms_server = await asyncio.start_server(
            lambda r, w: sms_receiver(received, secret.encode(), r, w), sock=sms_sock
        )
        servers += [smtp_server, sms_server]
        up_at = time.monotonic()
        log(f"receivers up {up_at - started:.1f} s after the first sign-up")

        threshold = max(1, int(args.messages * args.kill_at))
        deadline = up_at + args.timeout
        while len(received.distinct) < threshold:
            if time.monotonic() > deadline:
                log(f"FAILED: only {len(received.distinct)} of {args.messages} delivered within {args.timeout}s of the receivers coming up")
                return 1
            await asyncio.sleep(0.002)
        victims = instances if args.kill == "all" else instances[:1]
        for inst in victims:
            inst.kill()
        kill_at = time.monotonic()
        at_kill = len(received.distinct)
        # What the killed process had sent before it died is still in the receivers' sockets:
        # let them take it before anything new can come, so that each copy is told apart as
        # sent before the kill or after the restart.
        await asyncio.sleep(0.25)
        log(f"SIGKILL to {len(victims)} of {len(instances)} instance(s) with {at_kill}/{args.messages} delivered, "
            f"{kill_at - up_at:.2f} s after the receivers came up")
        restart_at = time.monotonic()
        for inst in victims:
            inst.start()
        for inst in victims:
            await inst.ready()
        log(f"restarted in {time.monotonic() - restart_at:.1f} s; waiting for the outbox to drain")

        deadline = restart_at + args.timeout
        while True:
            statuses = await asyncio.to_thread(db.statuses)
            if not statuses.get("pending") and received.distinct >= expected.keys():
                break
            if time.monotonic() > deadline:
                log(f"timed out after {args.timeout}s; outbox {json.dumps(statuses, sort_keys=True)}")
                break
            await asyncio.sleep(0.2)
        drained_at = time.monotonic()
        # a late copy would come within a lease of the last record; wait for it briefly
        await asyncio.sleep(args.settle)
        statuses = await asyncio.to_thread(db.statuses)

        outcome = count(args, expected, received, kill_at, restart_at, statuses)
        summary = {
            "database": args.database, "instances": args.instances, "killed": len(victims),
            "messages": args.messages, "delivered_at_kill": at_kill,
            "kill_after_receivers_up_s": round(kill_at - up_at, 2),
            "drain_after_restart_s": round(drained_at - restart_at, 1),
            "total_after_receivers_up_s": round(drained_at - up_at, 1),
            **outcome.figures,
        }
        print(flush=True)
        log(f"{args.database}, {args.instances} instance(s), killed {len(victims)} at {at_kill}/{args.messages} delivered; "
            f"drained {drained_at - restart_at:.1f} s after the restart ({drained_at - up_at:.1f} s after the receivers came up)")
        for line in outcome.lines:
            print("  " + line, flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(summary) + "\n")
        if outcome.failures:
            for f in outcome.failures:
                log("FAILED: " + f)
            return 1
        log("ok: nothing lost" + (f"; {outcome.figures['duplicated_by_deadbolt_id']} delivered twice, each across the kill"
                                  if outcome.figures["duplicated_by_deadbolt_id"] else ", nothing twice"))
        return 0
    finally:
        for inst in instances:
            inst.stop()
        for s in servers:
            s.close()
        smtp_sock.close()
        sms_sock.close()


def postgres_database(admin_url: str) -> tuple[str, str]:
    name = f"deadbolt_crash_{secrets.token_hex(4)}"
    subprocess.run([PSQL, admin_url, "-X", "-q", "-c", f"CREATE DATABASE {name}"], check=True)
    base = admin_url.rsplit("/", 1)[0]
    return name, f"{base}/{name}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--instances", type=int, default=1, help="servers sharing the database (PostgreSQL only)")
    parser.add_argument("--messages", type=int, default=1000, help="messages to queue, half mail and half texts (default 1000)")
    parser.add_argument("--kill", choices=["all", "one"], default="all", help="kill every instance, or the first only")
    parser.add_argument("--kill-at", type=float, default=0.3, help="kill once this share of the messages has arrived (default 0.3)")
    parser.add_argument("--outage", type=float, default=5, help="seconds the receivers stay down after the last message is queued")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for delivery before and after the kill")
    parser.add_argument("--settle", type=float, default=2, help="seconds to wait after the drain for late copies")
    parser.add_argument("--concurrency", type=int, default=16, help="parallel sign-ups")
    parser.add_argument("--max-duplicates", type=int, help="fail past this many duplicates (default: any that the kill explains)")
    parser.add_argument("--postgres-url", default=os.environ.get("DEADBOLT_TEST_POSTGRES_URL"),
                        help="a PostgreSQL server to make a database on (default: $DEADBOLT_TEST_POSTGRES_URL, else a throwaway cluster)")
    parser.add_argument("--bin", default=os.environ.get("DEADBOLT_BIN", str(REPO / "target/release/deadbolt")),
                        help="the server binary (default: $DEADBOLT_BIN, else target/release/deadbolt)")
    parser.add_argument("--json", help="append the run's figures to this file as one JSON line")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs, database, receipts)")
    args = parser.parse_args()

    if args.instances < 1 or (args.database == "sqlite" and args.instances != 1):
        parser.error("--instances: 1 on SQLite (one machine, one process); any number on PostgreSQL")
    if args.messages < 2:
        parser.error("--messages: at least 2")
    if not os.access(args.bin, os.X_OK):
        parser.error(f"no server binary at {args.bin} (cargo build --release -p deadbolt)")
    if args.database == "postgres" and not args.postgres_url:
        # a throwaway cluster for this run, the way the test suite gets one
        os.execvp("bash", ["bash", str(REPO / "scripts/with-postgres.sh"), sys.executable, *sys.argv])

    work = Path(tempfile.mkdtemp(prefix="deadbolt-crash."))
    pg_name = None
    try:
        if args.database == "postgres":
            pg_name, db_url = postgres_database(args.postgres_url)
        else:
            db_url = f"sqlite://{work / 'deadbolt.db'}"
        return asyncio.run(run(args, work, db_url))
    except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
        log(f"FAILED: {e}")
        return 1
    finally:
        if pg_name:
            subprocess.run([PSQL, args.postgres_url, "-X", "-q", "-c", f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)"],
                           check=False, capture_output=True)
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
