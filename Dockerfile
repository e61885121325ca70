# syntax=docker/dockerfile:1
# bcpii-gateway: a static binary on a distroless base, run as a non-root
# user, with its data (jobs, generated certificate, cursor key, the gRPC
# Unix socket) on a volume.
#
# Who may ask, in a container (deploy/README.md): programs outside reach it
# through published ports, which are never loopback to it, so they come as
# API users (the users file, mounted at /config/users.yaml) or with a
# partition's client certificate (--client-ca); the local partition is the
# caller on the Unix socket /data/grpc.sock, for programs that share the
# volume. Loopback inside the container is not an identity.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO off: a static binary that needs no C library at run time. The VCS
# information (-buildvcs) gives --version the commit.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/bcpii-gateway ./cmd/bcpii-gateway

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bcpii-gateway /usr/local/bin/bcpii-gateway
COPY LICENSE /usr/share/doc/bcpii-gateway/LICENSE
ENV BCPII_DATA_DIR=/data \
    BCPII_ADMIN_ADDR=:6796 \
    BCPII_USERS_FILE=/config/users.yaml \
    BCPII_NO_LOOPBACK_IDENTITY=true
VOLUME ["/data"]
# 6794 REST (HMC Web Services API), 6795 gRPC, 6796 admin (metrics,
# health), 61612 STOMP (HMC job notifications).
EXPOSE 6794 6795 6796 61612
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/bcpii-gateway"]
