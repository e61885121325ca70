// A partition program in TypeScript: it activates logical partition LP2
// through bcpii-gateway and follows the job until it ends, with stubs that
// buf generates from proto/ (buf.gen.clients.yaml) and Connect's gRPC
// transport (HTTP/2, TLS).
//
//   node dist/client.js [ADDR [CA]]
//
// ADDR is the gateway's gRPC address (else $BCPII_GRPC_ADDR, else
// localhost:6795); CA is the certificate to trust, the gateway's
// DATA/tls/gateway.crt (else $BCPII_CA, else the default data directory's).
// Run on the gateway's machine, the program is the local partition: the
// gateway knows it from the loopback connection, so it needs no credentials.
//
// It prints the job's final status as the HMC's Query Job Status body, for
// example {"job-results":{"message":"Logical partition LP2 activated."},
// "job-status-code":200,"status":"complete"}, and exits 1 unless the
// operation succeeded.
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { HmcErrorSchema } from "./gen/bcpii/v1/error_pb.js";
import { type Job, JobService, JobStatus } from "./gen/bcpii/v1/job_pb.js";
import { OperationService } from "./gen/bcpii/v1/operation_pb.js";

const cpcName = "CPC1";
const lparName = "LP2";
const watchTimeoutMs = 10 * 60 * 1000;

// The HMC's spellings of the job states.
const hmcStatus: Record<JobStatus, string> = {
  [JobStatus.UNSPECIFIED]: "unspecified",
  [JobStatus.RUNNING]: "running",
  [JobStatus.CANCEL_PENDING]: "cancel-pending",
  [JobStatus.COMPLETE]: "complete",
  [JobStatus.CANCELED]: "canceled",
};

interface Listed {
  name: string;
  "object-uri": string;
  "target-name": string;
}

async function main(argv: string[]): Promise<number> {
  const addr = argv[0] ?? process.env.BCPII_GRPC_ADDR ?? "localhost:6795";
  const ca =
    argv[1] ??
    process.env.BCPII_CA ??
    join(homedir(), ".local/share/bcpii-gateway/tls/gateway.crt");

  const transport = createGrpcTransport({
    baseUrl: `https://${addr}`,
    nodeOptions: { ca: readFileSync(ca) },
  });
  const operations = createClient(OperationService, transport);
  const jobs = createClient(JobService, transport);

  // One HMC request through the gateway; the answer body is JSON text.
  async function invoke(method: string, uri: string, targetName = "") {
    const res = await operations.invoke({ method, uri, targetName });
    return { status: res.httpStatus, body: res.body ? JSON.parse(res.body) : undefined, jobUri: res.jobUri };
  }

  const cpcs = await invoke("GET", "/api/cpcs");
  const cpc = find(cpcs.body.cpcs as Listed[], cpcName);
  const lpars = await invoke("GET", `${cpc["object-uri"]}/logical-partitions`, cpc["target-name"]);
  const lpar = find(lpars.body["logical-partitions"] as Listed[], lparName);

  const started = await invoke("POST", `${lpar["object-uri"]}/operations/activate`, lpar["target-name"]);
  if (started.status !== 202) {
    throw new Error(`activate answered ${started.status}, not 202 with a job`);
  }
  const jobId = started.jobUri.slice(started.jobUri.lastIndexOf("/") + 1);

  // A job started over BCPii is followed with the same target name.
  let last: Job | undefined;
  for await (const res of jobs.watchJob(
    { jobId },
    { headers: { "x-api-target-name": lpar["target-name"] }, timeoutMs: watchTimeoutMs },
  )) {
    last = res.job;
  }
  if (!last || (last.status !== JobStatus.COMPLETE && last.status !== JobStatus.CANCELED)) {
    throw new Error(`the watch of job ${jobId} closed before the job ended`);
  }
  console.log(JSON.stringify(hmcJob(last)));
  const ok = last.status === JobStatus.COMPLETE && (last.jobStatusCode ?? 0) < 300;
  return ok ? 0 : 1;
}

function find(items: Listed[], name: string): Listed {
  const item = items.find((i) => i.name === name);
  if (!item) throw new Error(`no object named ${name}`);
  return item;
}

// hmcJob is the job as the HMC's Query Job Status body: its fields in
// lexical order, job-results as the JSON object it is.
function hmcJob(job: Job): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (job.jobReasonCode !== undefined) out["job-reason-code"] = job.jobReasonCode;
  if (job.jobResults !== undefined) out["job-results"] = JSON.parse(job.jobResults);
  if (job.jobStatusCode !== undefined) out["job-status-code"] = job.jobStatusCode;
  out.status = hmcStatus[job.status];
  return out;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // Every gateway error carries the HMC's status and reason code.
    const ce = ConnectError.from(err);
    const hmc = ce.findDetails(HmcErrorSchema)[0];
    const codes = hmc ? ` (HMC ${hmc.httpStatus}.${hmc.reason})` : "";
    const what = ce.code === Code.Unknown ? ce.rawMessage : `${Code[ce.code]}: ${ce.rawMessage}`;
    console.error(`bcpii-example: ${what}${codes}`);
    process.exit(1);
  },
);
