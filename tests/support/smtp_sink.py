"""A real SMTP server that records what it receives, for Deadbolt's black-box tests.

Deadbolt's email delivery is tested against a genuine SMTP conversation (not a mock
transport), so the tests exercise the same client code that talks to a production relay.
This sink accepts every message and reports it on stdout for the test to read:

    python3 tests/support/smtp_sink.py --port 2525 [--fail-first K]

It listens on 127.0.0.1:PORT and prints `READY` once listening (`READY <port>` with --port 0,
which takes any free port), then one JSON line per
accepted message: {"mail_from": str, "rcpt_tos": [str], "subject": str, "text": str,
"html": str|null, "data": str}, where `data` is the raw message as UTF-8 and `text`/`html` are
the decoded parts. With --fail-first K, the first K DATA commands are answered with a
transient failure (451) so retry behaviour can be tested. It runs until SIGTERM or SIGINT.
"""

import argparse
import asyncio
import json
import signal
from email import policy
from email.parser import BytesParser

from aiosmtpd.smtp import SMTP


class Sink:
    """aiosmtpd handler: refuse the first `fail_first` messages, then print each one."""

    def __init__(self, fail_first: int) -> None:
        self.failures_left = fail_first

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.failures_left > 0:
            self.failures_left -= 1
            return "451 4.3.0 try again later"
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        record = {
            "mail_from": envelope.mail_from,
            "subject": str(message["subject"] or ""),
            "text": text.get_content() if text is not None else "",
            "html": html.get_content() if html is not None else None,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": envelope.original_content.decode("utf-8", errors="replace"),
        }
        print(json.dumps(record), flush=True)
        return "250 2.0.0 OK"


async def serve(port: int, fail_first: int) -> None:
    loop = asyncio.get_running_loop()
    sink = Sink(fail_first)
    # An explicit hostname avoids aiosmtpd's socket.getfqdn(), a DNS lookup that can stall.
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="localhost", enable_SMTPUTF8=True, loop=loop),
        host="127.0.0.1",
        port=port,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # with --port 0 the caller learns the port the system chose
    print("READY" if port else f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    # No wait_closed(): on newer Pythons it waits for clients that keep connections open.
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="port to listen on (127.0.0.1); 0: any free one, printed as READY PORT")
    parser.add_argument(
        "--fail-first", type=int, default=0, metavar="K", help="answer the first K DATA commands with 451"
    )
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.fail_first))


if __name__ == "__main__":
    main()
