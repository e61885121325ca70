"""End-to-end client of the gateway's notification interface, on stomp.py.

As an HMC client does it: log on over REST, read job-notification-topic,
connect over STOMP with TLS and subscribe to the topic, start an operation,
receive its job-completion message, then query the job once. The test that
runs it moves the gateway's clock when told "started", so that the job ends.
Every wait is bounded; any failure exits non-zero with a reason.

GATEWAY_STOMP_VERSION picks stomp.py's connection class: 1.0, 1.1 (its
default stomp.Connection) or 1.2. GATEWAY_STOMP_STYLE=zhmcclient connects as
zhmcclient's NotificationReceiver configures stomp.py: the default 1.1
connection with its retry, keep-alive and heart-beat settings (5 s each
way, receive check doubled), TLS client protocol with a certificate
validator, the logon answer's api-session and session-credential as login
and passcode, and a subscription id of its form, with no receipts.
"""

import json
import os
import ssl
import sys
import threading
import time
import urllib.request

import stomp

WAIT = 30  # seconds: every wait is bounded

REST = os.environ["GATEWAY_REST"]
STOMP_HOST, STOMP_PORT = os.environ["GATEWAY_STOMP"].rsplit(":", 1)
CA = os.environ["GATEWAY_CA"]
USER = os.environ["GATEWAY_USER"]
PASSWORD = os.environ["GATEWAY_PASSWORD"]
OPERATION = os.environ["GATEWAY_OPERATION"]
VERSION = os.environ.get("GATEWAY_STOMP_VERSION", "1.2")
ZHMCCLIENT = os.environ.get("GATEWAY_STOMP_STYLE") == "zhmcclient"
CONNECTIONS = {"1.0": stomp.Connection10, "1.1": stomp.Connection11, "1.2": stomp.Connection12}

tls = ssl.create_default_context(cafile=CA)


def rest(method, path, body=None, session=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("https://" + REST + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if session:
        req.add_header("X-API-Session", session)
    with urllib.request.urlopen(req, context=tls, timeout=WAIT) as resp:
        text = resp.read()
        return resp.status, json.loads(text) if text else None


class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.cond = threading.Condition()
        self.messages = []
        self.receipts = set()
        self.errors = []

    def on_message(self, frame):
        with self.cond:
            self.messages.append(dict(frame.headers))
            self.cond.notify_all()

    def on_receipt(self, frame):
        with self.cond:
            self.receipts.add(frame.headers.get("receipt-id"))
            self.cond.notify_all()

    def on_error(self, frame):
        with self.cond:
            self.errors.append((dict(frame.headers), frame.body))
            self.cond.notify_all()

    def wait(self, what, cond):
        with self.cond:
            if not self.cond.wait_for(lambda: cond() or self.errors, timeout=WAIT):
                raise Lost("no %s within %ds" % (what, WAIT))
            if self.errors:
                fail("ERROR frame: %r" % (self.errors,))


class Lost(Exception):
    """A frame that never came: stomp.py's TLS race (below) can lose one
    after CONNECT too, a frame it sends or one it receives."""


def fail(why):
    print("FAIL " + why, flush=True)
    sys.exit(1)


# stomp.py 8.0 (Debian's) reads and writes a TLS socket from two threads at
# once, and now and then its CONNECT frame never reaches the server, which
# closes the connection when its connect timeout ends (stomp.py issue 450,
# fixed upstream after 8.0). A client then connects again, as this one does,
# at most three times; a refused login (an ERROR frame) is never retried.
ATTEMPTS = 3


def validate_hostname(cert, hostname):
    """The certificate validator stomp.py calls after the handshake, as
    zhmcclient gives it one: the host must be among the certificate's
    subject alternative names."""
    names = [value for _, value in cert.get("subjectAltName", ())]
    if hostname in names:
        return (True, None)
    return (False, "%s is not among the certificate's names %r" % (hostname, names))


def new_connection():
    hosts = [(STOMP_HOST, int(STOMP_PORT))]
    if not ZHMCCLIENT:
        extra = {} if VERSION == "1.0" else {"heartbeats": (0, 0)}  # 1.0 has no heart-beating
        conn = CONNECTIONS[VERSION](hosts, timeout=WAIT, **extra)
        conn.set_ssl(for_hosts=hosts, ca_certs=CA)
        return conn
    conn = stomp.Connection(
        hosts, timeout=WAIT, reconnect_attempts_max=3, reconnect_sleep_initial=0.1,
        reconnect_sleep_increase=0.5, reconnect_sleep_max=60, reconnect_sleep_jitter=0.1,
        keepalive=True, heartbeats=(5000, 5000), heart_beat_receive_scale=2.0)
    conn.set_ssl(for_hosts=hosts, ssl_version=ssl.PROTOCOL_TLS_CLIENT, ca_certs=CA,
                 cert_validator=validate_hostname)
    return conn


def connect(login, passcode):
    for attempt in range(1, ATTEMPTS + 1):
        conn = new_connection()
        listener = Listener()
        conn.set_listener("" if ZHMCCLIENT else "gateway", listener)
        began = time.monotonic()
        try:
            conn.connect(login, passcode, wait=True)
            return conn, listener
        except stomp.exception.ConnectFailedException:
            if listener.errors or attempt == ATTEMPTS:
                fail("CONNECT failed after %.1fs (attempt %d); ERROR frames: %r"
                     % (time.monotonic() - began, attempt, listener.errors))
            print("retry CONNECT got no answer in %.1fs" % (time.monotonic() - began), flush=True)


def main():
    # The whole exchange again, on a new session and connection, when
    # stomp.py lost a frame after CONNECT: at most ATTEMPTS times.
    for attempt in range(1, ATTEMPTS + 1):
        try:
            exchange()
            return
        except Lost as e:
            if attempt == ATTEMPTS:
                fail(str(e))
            print("retry the exchange: %s" % e, flush=True)


def exchange():
    status, logon = rest("POST", "/api/sessions", {"userid": USER, "password": PASSWORD})
    session, topic = logon["api-session"], logon["job-notification-topic"]

    if ZHMCCLIENT:
        conn, listener = connect(session, logon["session-credential"])
        sub_id = "zhmcclient.%d.%d.0" % (os.getpid(), id(conn))
        conn.subscribe(destination="/topic/" + topic, id=sub_id, ack="auto")
        print("subscribed", flush=True)
    else:
        conn, listener = connect(USER, PASSWORD)
        sub_id = "1"
        conn.subscribe(destination="/topic/" + topic, id=sub_id, ack="auto", headers={"receipt": "subscribed"})
        try:
            listener.wait("receipt of SUBSCRIBE", lambda: "subscribed" in listener.receipts)
        except Lost:
            conn.disconnect()
            raise

    status, started = rest("POST", OPERATION, session=session)
    if status != 202:
        fail("operation answered %d" % status)
    job_uri = started["job-uri"]
    print("started " + job_uri, flush=True)

    try:
        listener.wait("job-completion message", lambda: listener.messages)
        # A receipt after the message: any second message would come before it.
        conn.unsubscribe(id=sub_id, headers={"receipt": "unsubscribed"})
        listener.wait("receipt of UNSUBSCRIBE", lambda: "unsubscribed" in listener.receipts)
    finally:
        conn.disconnect()
    if len(listener.messages) != 1:
        fail("%d messages, want exactly one: %r" % (len(listener.messages), listener.messages))
    m = listener.messages[0]
    if m.get("notification-type") != "job-completion" or m.get("job-uri") != job_uri:
        fail("message %r is not the completion of %s" % (m, job_uri))
    if m.get("destination") != "/topic/" + topic or m.get("session-sequence-nr") != "0":
        fail("message %r: destination or session-sequence-nr" % (m,))

    status, job = rest("GET", job_uri, session=session)
    if status != 200 or job.get("status") != "complete":
        fail("query of %s after its completion: %d %r" % (job_uri, status, job))
    print("ok " + json.dumps({"message": m, "job": job}, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
