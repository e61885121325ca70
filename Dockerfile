# syntax=docker/dockerfile:1
# bcpii-gateway: a static binary on a distroless base, run as a non-root
# user, with its data (jobs, generated certificate, cursor key) on a volume.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO off: a static binary that needs no C library at run time. The VCS
# information (-buildvcs) gives --version and /api/version the commit.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/bcpii-gateway ./cmd/bcpii-gateway

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bcpii-gateway /usr/local/bin/bcpii-gateway
COPY LICENSE /usr/share/doc/bcpii-gateway/LICENSE
ENV BCPII_DATA_DIR=/data \
    BCPII_ADMIN_ADDR=:6796
VOLUME ["/data"]
# 6794 REST (HMC Web Services API), 6795 gRPC, 6796 admin (metrics, health).
EXPOSE 6794 6795 6796
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/bcpii-gateway"]
