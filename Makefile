# AimDB for Go. `make run` starts the demo, `make test` runs every test.
GO        ?= go
BIN       := bin
PLUGINS   := $(notdir $(wildcard plugins/*))
CROSS     := linux/arm64 linux/arm
TESTFLAGS ?= -race -count=1 -timeout 20m -p 4
TOOLS     := $(BIN)/tools
GOTESTSUM_VERSION := v1.13.0
GOTESTSUM := $(TOOLS)/gotestsum-$(GOTESTSUM_VERSION)

.PHONY: all build plugins run test bench-levers stress vet fmt-check cross dist dist-test bench bench-bridge bench-peers proto lint clean

all: build

## build: the aimdb command into bin/, every plugin into bin/plugins/
build: plugins
	$(GO) build -o $(BIN)/aimdb ./cmd/aimdb

plugins:
	@mkdir -p $(BIN)/plugins
	@for p in $(PLUGINS); do \
		echo "build plugin $$p"; \
		CGO_ENABLED=0 $(GO) build -o $(BIN)/plugins/$$p ./plugins/$$p || exit 1; \
	done

## run: build, then run the demo configuration (no outside service needed)
run: build
	$(BIN)/aimdb run --plugins $(BIN)/plugins --config demo

## test: format and vet checks, then every test with the race detector through gotestsum,
## ending with a summary that lists each skipped test and why (`make cross` is separate)
test: fmt-check vet $(GOTESTSUM)
	$(GOTESTSUM) --format pkgname-and-test-fails -- $(TESTFLAGS) ./...
	$(MAKE) --no-print-directory bench-levers

## bench-levers: the data path's regression benchmarks, run briefly by `make test` so
## they keep working: each lever of docs/benchmarks.md beside its baseline (batch sizes
## against the bare plugin, TLS on and off, plugin_linger 0/200µs/2ms at a steady rate,
## pipelined MQTT publishing through the plugin, one QoS 1 destination beside a bare client,
## the ring letting go of read payloads beside a channel, direct socket calls beside the
## net package's at a paced rate)
bench-levers:
	$(GO) test -run '^$$' -bench 'PacedBridge|Outbound|Inbound' -benchtime 200x ./host/plugin/
	$(GO) test -run '^$$' -bench 'PacedEcho' -benchtime 1000x -cpu 1 ./internal/rawio/
	$(GO) test -run '^$$' -bench 'PushRecvPayload' -benchtime 100000x ./host/buffer/
	$(GO) test -run '^$$' -bench 'PluginInboundToOutbound' -benchtime 500x ./connectors/mqtt/
	$(GO) test -run '^$$' -bench 'PluginOutboundQoS1' -benchtime 2000x ./connectors/mqtt/

## stress: the timing-sensitive tests 20 times in a row under -race with every core kept
## busy (docs/testing.md); some sets only: make stress STRESS="kit faults"
stress:
	$(NICE) .ci/stress $(STRESS)

# gotestsum at the pinned version, installed once into bin/tools (bin/ is not committed).
$(GOTESTSUM):
	@mkdir -p $(TOOLS)
	GOBIN=$(abspath $(TOOLS)) $(GO) install gotest.tools/gotestsum@$(GOTESTSUM_VERSION)
	mv $(TOOLS)/gotestsum $@

vet:
	$(GO) vet ./...
	cd examples/udp && $(GO) vet ./...
	cd examples/tcp && $(GO) vet ./...
	cd internal/dist && $(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "not gofmt-clean:"; echo "$$out"; exit 1; fi

## cross: every plugin and the example connectors build with CGO_ENABLED=0 for the edge gateways' architectures
cross:
	@for t in $(CROSS); do \
		os=$${t%/*}; arch=$${t#*/}; \
		echo "cross-compile plugins for $$t"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -o /dev/null ./plugins/... || exit 1; \
		(cd examples/udp && CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -o /dev/null .) || exit 1; \
		(cd examples/tcp && CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -o /dev/null .) || exit 1; \
	done

## dist: for linux/amd64, linux/arm64 and linux/arm (GOARM=7), a .deb and a tarball in
## bin/dist/ (docs/packaging.md): static binaries (CGO_ENABLED=0, -trimpath), version from
## git describe, packaged with nfpm by internal/dist (its own module: nfpm stays out of
## aimdb's binaries). DIST_ARCHES picks architectures: make dist DIST_ARCHES=amd64
DIST        := $(BIN)/dist
DIST_ARCHES ?= amd64 arm64 arm
DIST_TOOL   := $(TOOLS)/dist
VERSION     ?= $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null || echo 0.0.0-dev)
DIST_MTIME  ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
NICE        ?= nice

dist:
	@rm -rf $(DIST)
	@for a in $(DIST_ARCHES); do \
		d=$(DIST)/stage/linux_$$a; goarm=; [ $$a = arm ] && goarm=7; \
		mkdir -p $$d/plugins; \
		echo "dist: build aimdb $(VERSION) and its plugins for linux/$$a$${goarm:+ (GOARM=$$goarm)}"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$a GOARM=$$goarm $(NICE) $(GO) build -trimpath \
			-ldflags "-s -w -X main.version=$(VERSION)" -o $$d/ ./cmd/aimdb || exit 1; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$a GOARM=$$goarm $(NICE) $(GO) build -trimpath \
			-ldflags "-s -w" -o $$d/plugins/ ./plugins/... || exit 1; \
	done
	@mkdir -p $(TOOLS)
	cd internal/dist && $(NICE) $(GO) build -o $(abspath $(DIST_TOOL)) .
	$(NICE) $(DIST_TOOL) -version "$(VERSION)" -mtime $(DIST_MTIME) -arch "$(DIST_ARCHES)" \
		-stage $(DIST)/stage -files internal/dist/files -out $(DIST)

## dist-test: the dist tool's tests, the amd64 tarball unpacked and checked, then the
## amd64 .deb installed with dpkg, its configuration checked and run as an unprivileged
## user, and removed again (internal/dist/install-test; the .deb part only under
## CI=true as root, else it says why it skips)
dist-test:
	cd internal/dist && $(NICE) $(GO) test -count=1 ./...
	$(MAKE) dist DIST_ARCHES=amd64
	internal/dist/install-test $(DIST)/aimdb_*_amd64.deb $(DIST)/aimdb-*-linux-amd64.tar.gz

## bench: the performance figures reported in docs/benchmarks.md
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## bench-bridge: AimDB, Telegraf, Node-RED and no bridge as MQTT bridges, side by side
## (docs/benchmarks.md); extra flags: make bench-bridge BENCH_BRIDGE_FLAGS="-rounds 5 -qos 1"
BENCH_PEERS        := $(BIN)/bench-peers
BENCH_BRIDGE_FLAGS ?=
TELEGRAF_VERSION   := v1.37.2
TELEGRAF_TAGS      := custom,inputs.mqtt_consumer,outputs.mqtt,parsers.value,serializers.template

bench-bridge: build
	$(GO) build -o $(BIN)/bench-bridge ./cmd/bench-bridge
	$(BIN)/bench-bridge -aimdb $(BIN)/aimdb -plugins $(BIN)/plugins -peers $(BENCH_PEERS) $(BENCH_BRIDGE_FLAGS)

## bench-peers: install the peers of bench-bridge into bin/bench-peers (ignored by git):
## a minimal Telegraf build (about 11 min cold on 2 cores, started first, in the background) and Node-RED 4
bench-peers:
	@mkdir -p $(BENCH_PEERS)/node-red
	@GOBIN="$(abspath $(BENCH_PEERS))" $(GO) install -tags "$(TELEGRAF_TAGS)" \
		github.com/influxdata/telegraf/cmd/telegraf@$(TELEGRAF_VERSION) & tg=$$!; \
	echo "building Telegraf $(TELEGRAF_VERSION) in the background (pid $$tg); installing Node-RED 4"; \
	(cd $(BENCH_PEERS)/node-red && npm install --no-audit --no-fund node-red@4) || { wait $$tg; exit 1; }; \
	wait $$tg && echo "peers installed in $(BENCH_PEERS)"

## proto: regenerate the committed gRPC code (needs Debian's protoc; installs the Go generators)
proto:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc -I proto \
		--go_out=. --go_opt=module=github.com/aimdb-dev/aimdb-go \
		--go-grpc_out=. --go-grpc_opt=module=github.com/aimdb-dev/aimdb-go \
		proto/pluginv2/plugin.proto
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc -I connectors/grpcconn/grpctest/testpb \
		--go_out=connectors/grpcconn/grpctest/testpb --go_opt=paths=source_relative \
		--go-grpc_out=connectors/grpcconn/grpctest/testpb --go-grpc_opt=paths=source_relative \
		telemetry.proto

lint: fmt-check vet

clean:
	rm -rf $(BIN)
