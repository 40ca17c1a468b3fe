#!/usr/bin/env python3
"""Emboux policy service for Postfix (SMTPD_POLICY_README's protocol).

Postfix asks it before each outbound message; it asks the suite, which
holds every rule (limits, warm-up, spike, suppression, verification) and
the exact counters, and answers Postfix with the action the suite chose:

    Postfix smtpd --(name=value lines)--> emboux_policyd --(HTTP POST JSON)-->
    Odoo /emboux/policy --> the send decision of emboux_outbound

The daemon keeps no state and no rule: every request is one HTTP call, so
several daemons (one per mail host) share the suite's counters exactly. It
needs only Python 3's standard library, so it runs on a mail host without
the suite's virtualenv.

When the suite cannot be reached in time it answers a temporary failure
(``451 4.3.0``): senders retry, nothing is sent unchecked, nothing is
bounced. Every deferral logs one line with its reason (suite unreachable,
timeout, HTTP 401 or 5xx, or the suite's own 4xx answer).

At start it makes one harmless request (``protocol_state=CONNECT``, counted
nowhere): a 401 (wrong policy token) exits with status 1 and a message naming
the token setting; a suite that cannot be reached only logs a warning, and the
daemon serves (deferring) until it can.

Configuration (arguments win over the environment):

    --listen HOST:PORT   EMBOUX_POLICY_LISTEN   default 127.0.0.1:10040
    --url URL            EMBOUX_POLICY_URL      default http://127.0.0.1:8069/emboux/policy
    --token-file FILE    EMBOUX_POLICY_TOKEN    the suite's policy token (a file keeps
                                                it out of the process list); it
                                                opens /emboux/policy only: the
                                                mail host holds no master token
    --timeout SECONDS    EMBOUX_POLICY_TIMEOUT  default 5

Wire it in Postfix's submission services (see ../postfix/master.cf.notes).
"""

import argparse
import asyncio
import json
import logging
import os
import sys
import urllib.error
import urllib.request

_logger = logging.getLogger("emboux_policyd")

UNAVAILABLE = "451 4.3.0 Sending policy service unavailable, try again later"
# one request is a few hundred bytes; refuse to buffer a runaway client
MAX_REQUEST_BYTES = 64 * 1024
# the start-up check: a harmless request, the suite answers DUNNO and counts nothing
CHECK_REQUEST = {"request": "smtpd_access_policy", "protocol_state": "CONNECT"}


def parse_request(lines):
    """Postfix's ``name=value`` lines (without the final empty line) to a
    dict; a line without ``=`` is ignored, as Postfix ignores unknown ones."""
    attrs = {}
    for line in lines:
        name, sep, value = line.partition("=")
        if sep:
            attrs[name.strip()] = value
    return attrs


def format_action(action):
    """The reply Postfix reads: ``action=...`` and an empty line. A line
    break inside the action would end the reply early: flattened."""
    action = " ".join(str(action).split()) or "DUNNO"
    return f"action={action}\n\n".encode()


class PolicyClient:
    """One HTTP call to the suite per policy request."""

    def __init__(self, url, token, timeout):
        self.url = url
        self.token = token
        self.timeout = timeout

    def ask(self, attrs):
        """``(action, None)`` from the suite, or ``(None, why)``: why no
        action came (unreachable, timeout, 401, 5xx, bad answer)."""
        body = json.dumps(attrs).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.token}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read().decode())
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return None, (
                    "the suite refused the policy token (HTTP 401): check --token-file / "
                    "EMBOUX_POLICY_TOKEN against emboux_policy_token on the Odoo side"
                )
            return None, f"the suite answered HTTP {exc.code}"
        except TimeoutError:
            return None, f"no answer from the suite within {self.timeout:g}s (timeout)"
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                return None, f"no answer from the suite within {self.timeout:g}s (timeout)"
            return None, f"suite unreachable ({exc.reason})"
        except (OSError, ValueError) as exc:
            return None, f"suite unreachable or bad answer ({exc})"
        action = answer.get("action") if isinstance(answer, dict) else None
        if not isinstance(action, str) or not action.strip():
            return None, "the suite's answer has no action"
        return action, None

    def decide(self, attrs):
        """The action for Postfix. Every deferral (a 4xx) logs one line
        saying why: the suite's own reason, or why it gave none."""
        action, why = self.ask(attrs)
        if action is None:
            _logger.warning("deferring (%s): %s", why, UNAVAILABLE)
            return UNAVAILABLE
        if action.strip().startswith("4"):
            _logger.info(
                "deferring (the suite's reason) sender=%s queue_id=%s: %s",
                attrs.get("sender") or "<>",
                attrs.get("queue_id") or "-",
                action,
            )
        return action

    def check(self):
        """One harmless request at start: None when the suite accepts the
        token, else why not (the reason of :meth:`ask`); ``401`` in the
        reason means the token is wrong."""
        _action, why = self.ask(CHECK_REQUEST)
        return why


async def handle_connection(reader, writer, client):
    """Postfix keeps a connection open for many requests: one request is a
    block of lines ended by an empty line."""
    peer = writer.get_extra_info("peername")
    lines, size = [], 0
    try:
        while True:
            raw = await reader.readline()
            if not raw:
                break
            size += len(raw)
            if size > MAX_REQUEST_BYTES:
                _logger.warning("request from %s over %d bytes: closing", peer, size)
                break
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line:
                lines.append(line)
                continue
            attrs = parse_request(lines)
            lines, size = [], 0
            action = await asyncio.to_thread(client.decide, attrs)
            writer.write(format_action(action))
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


def read_config(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--listen", default=os.environ.get("EMBOUX_POLICY_LISTEN", "127.0.0.1:10040")
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("EMBOUX_POLICY_URL", "http://127.0.0.1:8069/emboux/policy"),
    )
    parser.add_argument("--token-file", help="a file holding the suite's policy token")
    parser.add_argument(
        "--timeout", type=float, default=float(os.environ.get("EMBOUX_POLICY_TIMEOUT", "5"))
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as handle:
            args.token = handle.read().strip()
    else:
        args.token = os.environ.get("EMBOUX_POLICY_TOKEN", "")
    if not args.token:
        parser.error("the policy token is needed: --token-file or EMBOUX_POLICY_TOKEN")
    host, sep, port = args.listen.rpartition(":")
    if not sep or not port.isdigit():
        parser.error("--listen: HOST:PORT expected")
    args.host, args.port = host.strip("[]") or "127.0.0.1", int(port)
    return args


async def serve(args):
    client = PolicyClient(args.url, args.token, args.timeout)
    server = await asyncio.start_server(
        lambda r, w: handle_connection(r, w, client), args.host, args.port
    )
    _logger.info("listening on %s:%s, asking %s", args.host, args.port, args.url)
    async with server:
        await server.serve_forever()


def check_credentials(client):
    """The start-up check: exit 2 when the suite refuses the token; a
    warning (and go on serving) when the suite cannot be reached."""
    why = client.check()
    if why is None:
        _logger.info("the suite at %s accepts the policy token", client.url)
    elif "HTTP 401" in why:
        _logger.critical("%s; exiting", why)
        sys.exit(
            "emboux_policyd: the suite refused the policy token (HTTP 401): the token from "
            "--token-file or EMBOUX_POLICY_TOKEN must equal emboux_policy_token "
            "(or EMBOUX_POLICY_TOKEN) on the Odoo side"
        )
    else:
        _logger.warning(
            "start-up check: %s; serving anyway (deferring with 451 4.3.0 while it lasts)", why
        )


def main(argv=None):
    args = read_config(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    check_credentials(PolicyClient(args.url, args.token, args.timeout))
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
