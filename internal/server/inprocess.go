package server

import (
	"google.golang.org/grpc"

	"github.com/bcpii-gateway/bcpii-gateway/internal/inproc"
)

// In-process calls: the REST gateway calls the gRPC services of its own
// server through InProcess, an inproc.Channel that runs the server's
// interceptors and handlers with no transport between (internal/inproc
// says why, with the measurements).

// register registers a service on a gRPC server and on the in-process
// channel (the first registration serves there).
func (s *Server) register(g *grpc.Server, sd *grpc.ServiceDesc, impl any) {
	// Each unary handler reports a message that fails to decode in HMC
	// terms (recv.go).
	wrapped := *sd
	wrapped.Methods = make([]grpc.MethodDesc, len(sd.Methods))
	for i, m := range sd.Methods {
		m.Handler = s.wrapDecode("/"+sd.ServiceName+"/"+m.MethodName, m.Handler)
		wrapped.Methods[i] = m
	}
	g.RegisterService(&wrapped, impl)
	s.inproc.RegisterService(sd, impl)
}

// InProcess returns a client connection to s's services in this process.
func (s *Server) InProcess() grpc.ClientConnInterface { return s.inproc }

// Pusher is the client side of an in-process stream that can hand its
// messages to a receiver (inproc.Pusher).
type Pusher = inproc.Pusher
