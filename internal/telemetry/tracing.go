package telemetry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/version"
)

// Tracing exports spans over OTLP. The exporter takes its endpoint,
// headers, TLS and timeouts from the standard OTEL_EXPORTER_OTLP_*
// environment variables itself.
type Tracing struct {
	Provider   *sdktrace.TracerProvider
	Propagator propagation.TextMapPropagator
}

// StartTracing starts an OTLP exporter speaking protocol: "grpc", or
// "http/protobuf" (empty means this, the OpenTelemetry default).
// Shutdown flushes and stops it.
func StartTracing(ctx context.Context, protocol string) (*Tracing, error) {
	var (
		exp *otlptrace.Exporter
		err error
	)
	switch protocol {
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	default:
		return nil, fmt.Errorf("tracing: OTLP protocol %q is not grpc or http/protobuf", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName("bcpii-gateway"), semconv.ServiceVersion(version.Get().Version)))
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	return &Tracing{
		Provider:   sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)),
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}, nil
}

// Shutdown sends the spans still buffered and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.Provider.Shutdown(ctx) }
