"""A partition program in Python: it activates logical partition LP2 through
bcpii-gateway and follows the job until it ends, with stubs that buf
generates from proto/ (buf.gen.clients.yaml) into gen/ beside this file.

    python3 client.py [ADDR [CA]]

ADDR is the gateway's gRPC address (else $BCPII_GRPC_ADDR, else
localhost:6795); CA is the certificate to trust, the gateway's
DATA/tls/gateway.crt (else $BCPII_CA, else the default data directory's).
Run on the gateway's machine, the program is the local partition: the
gateway knows it from the loopback connection, so it needs no credentials.

It prints the job's final status as the HMC's Query Job Status body, for
example {"job-results":{"message":"Logical partition LP2 activated."},
"job-status-code":200,"status":"complete"}, and exits 1 unless the
operation succeeded.

Needs grpcio and protobuf matching the protoc that generated gen/ (on
Debian 12: python3-grpcio and python3-protobuf, with protobuf-compiler and
protobuf-compiler-grpc).
"""

import json
import os
import sys

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

from bcpii.v1 import error_pb2, job_pb2, job_pb2_grpc  # noqa: E402
from bcpii.v1 import operation_pb2, operation_pb2_grpc  # noqa: E402

CPC_NAME = "CPC1"
LPAR_NAME = "LP2"
WATCH_TIMEOUT_S = 600

# The HMC's spellings of the job states.
HMC_STATUS = {
    job_pb2.JOB_STATUS_RUNNING: "running",
    job_pb2.JOB_STATUS_CANCEL_PENDING: "cancel-pending",
    job_pb2.JOB_STATUS_COMPLETE: "complete",
    job_pb2.JOB_STATUS_CANCELED: "canceled",
}
ENDED = (job_pb2.JOB_STATUS_COMPLETE, job_pb2.JOB_STATUS_CANCELED)


def main(argv):
    addr = argv[0] if argv else os.environ.get("BCPII_GRPC_ADDR", "localhost:6795")
    ca = argv[1] if len(argv) > 1 else os.environ.get(
        "BCPII_CA", os.path.expanduser("~/.local/share/bcpii-gateway/tls/gateway.crt"))
    with open(ca, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())

    with grpc.secure_channel(addr, creds) as channel:
        operations = operation_pb2_grpc.OperationServiceStub(channel)
        jobs = job_pb2_grpc.JobServiceStub(channel)

        def invoke(method, uri, target_name=""):
            res = operations.Invoke(operation_pb2.InvokeRequest(
                method=method, uri=uri, target_name=target_name))
            return res.http_status, json.loads(res.body) if res.body else None, res.job_uri

        _, cpcs, _ = invoke("GET", "/api/cpcs")
        cpc = find(cpcs["cpcs"], CPC_NAME)
        _, lpars, _ = invoke("GET", cpc["object-uri"] + "/logical-partitions", cpc["target-name"])
        lpar = find(lpars["logical-partitions"], LPAR_NAME)

        status, _, job_uri = invoke(
            "POST", lpar["object-uri"] + "/operations/activate", lpar["target-name"])
        if status != 202:
            raise SystemExit(f"bcpii-example: activate answered {status}, not 202 with a job")
        job_id = job_uri.rsplit("/", 1)[-1]

        # A job started over BCPii is followed with the same target name.
        last = None
        for res in jobs.WatchJob(
                job_pb2.WatchJobRequest(job_id=job_id),
                metadata=[("x-api-target-name", lpar["target-name"])],
                timeout=WATCH_TIMEOUT_S):
            last = res.job
        if last is None or last.status not in ENDED:
            raise SystemExit(f"bcpii-example: the watch of job {job_id} closed before the job ended")

    print(json.dumps(hmc_job(last), separators=(",", ":"), ensure_ascii=False))
    ok = last.status == job_pb2.JOB_STATUS_COMPLETE and last.job_status_code < 300
    return 0 if ok else 1


def find(items, name):
    for item in items:
        if item["name"] == name:
            return item
    raise SystemExit(f"bcpii-example: no object named {name}")


def hmc_job(job):
    """The job as the HMC's Query Job Status body: its fields in lexical
    order, job-results as the JSON object it is."""
    out = {}
    if job.HasField("job_reason_code"):
        out["job-reason-code"] = job.job_reason_code
    if job.HasField("job_results"):
        out["job-results"] = json.loads(job.job_results)
    if job.HasField("job_status_code"):
        out["job-status-code"] = job.job_status_code
    out["status"] = HMC_STATUS.get(job.status, "unspecified")
    return out


def hmc_error(err):
    """The HMC status and reason of a gateway error, from the HmcError in
    the grpc-status-details-bin trailer (a google.rpc.Status, read here by
    hand because Debian ships no Python package of its proto)."""
    for key, value in err.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        for num, detail in fields(value):
            if num != 3:  # Status.details, each a google.protobuf.Any
                continue
            any_fields = dict(fields(detail))
            if any_fields.get(1, b"").endswith(b"/bcpii.v1.HmcError"):
                hmc = error_pb2.HmcError.FromString(any_fields.get(2, b""))
                return f" (HMC {hmc.http_status}.{hmc.reason})"
    return ""


def fields(buf):
    """Yields (field number, value) of a protobuf message's wire format."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        wire = key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 2:
            n, i = varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            value, i = buf[i:i + n], i + n
        else:
            return
        yield key >> 3, value


def varint(buf, i):
    value = shift = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except grpc.RpcError as err:
        print(f"bcpii-example: {err.code().name}: {err.details()}{hmc_error(err)}", file=sys.stderr)
        sys.exit(1)
