// Package bcpiigateway is the root of bcpii-gateway, a gateway that lets
// programs in IBM Z partitions start hardware operations and follow the
// asynchronous jobs they create, over gRPC and over the HMC Web Services API's
// own REST wire format. The code lives in cmd/, gateway/, bcpii/ and
// internal/; gen/ is generated from proto/ by the go:generate line below.
package bcpiigateway

//go:generate scripts/buf.sh generate
