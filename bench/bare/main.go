// Command bare serves the baseline the gateway is measured against: a bare
// net/http TLS handler answering Query Job Status with a fixed body and the
// gateway's headers, and a bare grpc-go JobService whose GetJob returns a
// constant job, over TLS with a self-signed P-256 certificate like the
// gateway's own. It prints "rest ADDR" and "grpc ADDR" and serves until
// it is sent SIGINT or SIGTERM.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

// Body is what Query Job Status answers for a job that completed with 204.
const Body = `{"job-status-code":204,"status":"complete"}`

func main() {
	restAddr := flag.String("rest", "127.0.0.1:0", "REST listen address")
	grpcAddr := flag.String("grpc", "127.0.0.1:0", "gRPC listen address")
	flag.Parse()
	cert, err := selfSigned()
	if err != nil {
		log.Fatal(err)
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	rl, err := net.Listen("tcp", *restAddr)
	if err != nil {
		log.Fatal(err)
	}
	gl, err := net.Listen("tcp", *grpcAddr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("rest %s\ngrpc %s\n", rl.Addr(), gl.Addr())
	hs := &http.Server{
		Handler:      http.HandlerFunc(serveJob),
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     log.New(io.Discard, "", 0),
	}
	go func() { _ = hs.Serve(tls.NewListener(rl, tlsConfig)) }()
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsConfig)))
	bcpiiv1.RegisterJobServiceServer(gs, jobService{})
	go func() { _ = gs.Serve(gl) }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	gs.Stop()
	_ = hs.Close()
}

func serveJob(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Server", "bcpii-gateway")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(Body)))
	_, _ = io.WriteString(w, Body)
}

type jobService struct {
	bcpiiv1.UnimplementedJobServiceServer
}

func (jobService) GetJob(context.Context, *bcpiiv1.GetJobRequest) (*bcpiiv1.GetJobResponse, error) {
	return &bcpiiv1.GetJobResponse{Job: &bcpiiv1.Job{
		Status:        bcpiiv1.JobStatus_JOB_STATUS_COMPLETE,
		JobStatusCode: proto.Int32(204),
	}}, nil
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
