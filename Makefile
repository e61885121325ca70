# Shortcuts; each target is one command a newcomer can also run by hand.
.PHONY: run test generate lint bench

run:
	go run ./cmd/bcpii-gateway

test:
	go test -race ./...

generate:
	go generate ./...

lint:
	scripts/buf.sh lint
	go vet ./...

bench:
	go test -run '^$$' -bench . -benchmem ./internal/server/
