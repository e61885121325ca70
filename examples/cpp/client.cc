// A partition program in C++: it activates logical partition LP2 through
// bcpii-gateway and follows the job with JobService.WatchJob until it
// ends, with stubs that buf generates from proto/ (buf.gen.clients.yaml)
// into gen/ beside this file.
//
//     bcpii-client [ADDR [CA]]
//
// ADDR is the gateway's gRPC address (else $BCPII_GRPC_ADDR, else
// localhost:6795), or unix:PATH for its Unix socket (DATA/grpc.sock), where
// the program is the local partition without TLS; CA is the certificate to
// trust, the gateway's DATA/tls/gateway.crt (else $BCPII_CA). Run on the
// gateway's machine over TCP, the program is the local partition too: the
// gateway knows it from the loopback connection.
//
// It prints the job's final status as the HMC's Query Job Status body, for
// example {"job-results":{"message":"Logical partition LP2 activated."},
// "job-status-code":200,"status":"complete"}. It exits 1 with a message on
// standard error when the gateway cannot be reached, its certificate is
// not the one trusted, the gateway refuses a request (the HMC status and
// reason of its HmcError detail included), or the job does not complete
// with a 2xx status.

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include "bcpii/v1/error.pb.h"
#include "bcpii/v1/job.grpc.pb.h"
#include "bcpii/v1/operation.grpc.pb.h"

namespace {

constexpr char kCPC[] = "CPC1";
constexpr char kLPAR[] = "LP2";
constexpr auto kCallTimeout = std::chrono::seconds(30);
constexpr auto kWatchTimeout = std::chrono::seconds(600);

// Failure is what ends the program with exit status 1 and a message.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// hmcError is the HMC status and reason of a gateway error: the HmcError
// inside the google.rpc.Status of the call's error details, read from its
// wire format (Status.details, field 3, are google.protobuf.Any values:
// type_url 1, value 2).
std::string hmcError(const grpc::Status& st) {
  google::protobuf::UnknownFieldSet status;
  if (!status.ParseFromString(st.error_details())) return "";
  for (int i = 0; i < status.field_count(); i++) {
    const auto& f = status.field(i);
    if (f.number() != 3 || f.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) continue;
    google::protobuf::UnknownFieldSet any;
    if (!any.ParseFromString(f.length_delimited())) continue;
    std::string type, value;
    for (int j = 0; j < any.field_count(); j++) {
      const auto& a = any.field(j);
      if (a.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) continue;
      if (a.number() == 1) type = a.length_delimited();
      if (a.number() == 2) value = a.length_delimited();
    }
    const std::string suffix = "/bcpii.v1.HmcError";
    if (type.size() < suffix.size() || type.compare(type.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    bcpii::v1::HmcError hmc;
    if (hmc.ParseFromString(value)) {
      return " (HMC " + std::to_string(hmc.http_status()) + "." + std::to_string(hmc.reason()) + ")";
    }
  }
  return "";
}

// check turns a failed call into a Failure that says what failed and why.
void check(const grpc::Status& st, const std::string& what) {
  if (st.ok()) return;
  std::string why;
  switch (st.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      why = "the gateway cannot be reached, or its certificate is not the one trusted: ";
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      why = "no answer in time: ";
      break;
    default:
      break;
  }
  throw Failure(what + ": " + why + st.error_message() + hmcError(st));
}

std::unique_ptr<grpc::ClientContext> callContext(std::chrono::seconds timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  return ctx;
}

// Gateway is the two services the program uses.
class Gateway {
 public:
  explicit Gateway(std::shared_ptr<grpc::Channel> ch)
      : ops_(bcpii::v1::OperationService::NewStub(ch)), jobs_(bcpii::v1::JobService::NewStub(ch)) {}

  // invoke makes an HMC request through OperationService.Invoke.
  bcpii::v1::InvokeResponse invoke(const std::string& method, const std::string& uri, const std::string& target) {
    bcpii::v1::InvokeRequest req;
    req.set_method(method);
    req.set_uri(uri);
    req.set_target_name(target);
    bcpii::v1::InvokeResponse resp;
    auto ctx = callContext(kCallTimeout);
    check(ops_->Invoke(ctx.get(), req, &resp), method + " " + uri);
    return resp;
  }

  // list answers a listing's entries.
  google::protobuf::ListValue list(const std::string& uri, const std::string& target, const std::string& member) {
    google::protobuf::Struct body;
    auto st = google::protobuf::util::JsonStringToMessage(invoke("GET", uri, target).body(), &body);
    if (!st.ok() || !body.fields().count(member)) throw Failure("GET " + uri + ": not a list of " + member);
    return body.fields().at(member).list_value();
  }

  // watch follows the job until its last status.
  bcpii::v1::Job watch(const std::string& id, const std::string& target) {
    bcpii::v1::WatchJobRequest req;
    req.set_job_id(id);
    auto ctx = callContext(kWatchTimeout);
    // A job started over BCPii is followed with the same target name.
    ctx->AddMetadata("x-api-target-name", target);
    auto stream = jobs_->WatchJob(ctx.get(), req);
    bcpii::v1::WatchJobResponse resp;
    bcpii::v1::Job last;
    bool any = false;
    while (stream->Read(&resp)) {
      last = resp.job();
      any = true;
    }
    check(stream->Finish(), "WatchJob " + id);
    if (!any || (last.status() != bcpii::v1::JOB_STATUS_COMPLETE && last.status() != bcpii::v1::JOB_STATUS_CANCELED)) {
      throw Failure("the watch of job " + id + " closed before the job ended");
    }
    return last;
  }

 private:
  std::unique_ptr<bcpii::v1::OperationService::Stub> ops_;
  std::unique_ptr<bcpii::v1::JobService::Stub> jobs_;
};

// field is a string field of a list entry.
std::string field(const google::protobuf::Value& v, const std::string& name) {
  const auto& f = v.struct_value().fields();
  auto it = f.find(name);
  return it == f.end() ? "" : it->second.string_value();
}

google::protobuf::Value find(const google::protobuf::ListValue& items, const std::string& name) {
  for (const auto& v : items.values()) {
    if (field(v, "name") == name) return v;
  }
  throw Failure("no object named " + name);
}

const char* hmcStatus(bcpii::v1::JobStatus s) {
  switch (s) {
    case bcpii::v1::JOB_STATUS_RUNNING:
      return "running";
    case bcpii::v1::JOB_STATUS_CANCEL_PENDING:
      return "cancel-pending";
    case bcpii::v1::JOB_STATUS_COMPLETE:
      return "complete";
    case bcpii::v1::JOB_STATUS_CANCELED:
      return "canceled";
    default:
      return "unspecified";
  }
}

// hmcJob is the job as the HMC's Query Job Status body: compact, its
// fields in lexical order, job-results the JSON object the gateway gave.
std::string hmcJob(const bcpii::v1::Job& job) {
  std::ostringstream out;
  out << "{";
  if (job.has_job_reason_code()) out << "\"job-reason-code\":" << job.job_reason_code() << ",";
  if (job.has_job_results()) out << "\"job-results\":" << job.job_results() << ",";
  if (job.has_job_status_code()) out << "\"job-status-code\":" << job.job_status_code() << ",";
  out << "\"status\":\"" << hmcStatus(job.status()) << "\"}";
  return out.str();
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Failure("cannot read the certificate " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

int run(int argc, char** argv) {
  std::string home = env("HOME", ".");
  std::string addr = argc > 1 ? argv[1] : env("BCPII_GRPC_ADDR", "localhost:6795");
  std::string ca = argc > 2 ? argv[2] : env("BCPII_CA", home + "/.local/share/bcpii-gateway/tls/gateway.crt");

  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (addr.rfind("unix:", 0) == 0) {
    creds = grpc::InsecureChannelCredentials();  // the local socket: no TLS
  } else {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = readFile(ca);
    creds = grpc::SslCredentials(tls);
  }
  Gateway gw(grpc::CreateChannel(addr, creds));

  auto cpc = find(gw.list("/api/cpcs", "", "cpcs"), kCPC);
  auto lpar = find(gw.list(field(cpc, "object-uri") + "/logical-partitions", field(cpc, "target-name"), "logical-partitions"), kLPAR);
  std::string target = field(lpar, "target-name");
  auto started = gw.invoke("POST", field(lpar, "object-uri") + "/operations/activate", target);
  if (started.http_status() != 202 || started.job_uri().empty()) {
    throw Failure("activate answered " + std::to_string(started.http_status()) + ", not 202 with a job");
  }
  std::string id = started.job_uri().substr(started.job_uri().rfind('/') + 1);
  auto job = gw.watch(id, target);
  std::cout << hmcJob(job) << std::endl;
  bool ok = job.status() == bcpii::v1::JOB_STATUS_COMPLETE && job.has_job_status_code() && job.job_status_code() < 300;
  if (!ok) {
    std::cerr << "bcpii-example: the job of activating " << kLPAR << " did not succeed" << std::endl;
  }
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const Failure& f) {
    std::cerr << "bcpii-example: " << f.what() << std::endl;
    return 1;
  }
}
