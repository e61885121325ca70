"""End-to-end client of the gateway's notification interface, on stomp.py.

As an HMC client does it: log on over REST, read job-notification-topic,
connect over STOMP with TLS and subscribe to the topic, start an operation,
receive its job-completion message, then query the job once. The test that
runs it moves the gateway's clock when told "started", so that the job ends.
Every wait is bounded; any failure exits non-zero with a reason.
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
                fail("no %s within %ds" % (what, WAIT))
            if self.errors:
                fail("ERROR frame: %r" % (self.errors,))


def fail(why):
    print("FAIL " + why, flush=True)
    sys.exit(1)


# stomp.py 8.0 (Debian's) reads and writes a TLS socket from two threads at
# once, and now and then its CONNECT frame never reaches the server, which
# closes the connection when its connect timeout ends (stomp.py issue 450,
# fixed upstream after 8.0). A client then connects again, as this one does,
# at most three times; a refused login (an ERROR frame) is never retried.
ATTEMPTS = 3


def connect():
    for attempt in range(1, ATTEMPTS + 1):
        conn = stomp.Connection12([(STOMP_HOST, int(STOMP_PORT))], heartbeats=(0, 0), timeout=WAIT)
        conn.set_ssl(for_hosts=[(STOMP_HOST, int(STOMP_PORT))], ca_certs=CA)
        listener = Listener()
        conn.set_listener("gateway", listener)
        began = time.monotonic()
        try:
            conn.connect(USER, PASSWORD, wait=True)
            return conn, listener
        except stomp.exception.ConnectFailedException:
            if listener.errors or attempt == ATTEMPTS:
                fail("CONNECT failed after %.1fs (attempt %d); ERROR frames: %r"
                     % (time.monotonic() - began, attempt, listener.errors))
            print("retry CONNECT got no answer in %.1fs" % (time.monotonic() - began), flush=True)


def main():
    status, logon = rest("POST", "/api/sessions", {"userid": USER, "password": PASSWORD})
    session, topic = logon["api-session"], logon["job-notification-topic"]

    conn, listener = connect()
    conn.subscribe(destination="/topic/" + topic, id="1", ack="auto", headers={"receipt": "subscribed"})
    listener.wait("receipt of SUBSCRIBE", lambda: "subscribed" in listener.receipts)

    status, started = rest("POST", OPERATION, session=session)
    if status != 202:
        fail("operation answered %d" % status)
    job_uri = started["job-uri"]
    print("started " + job_uri, flush=True)

    listener.wait("job-completion message", lambda: listener.messages)
    # A receipt after the message: any second message would come before it.
    conn.unsubscribe(id="1", headers={"receipt": "unsubscribed"})
    listener.wait("receipt of UNSUBSCRIBE", lambda: "unsubscribed" in listener.receipts)
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
