# The `pipeline` binary in a small image: `docker compose up` runs it as `pipeline up`
# (checks, topics, schema, the generator and the dashboard on :3000). See docs/docker.md.
#
#   docker build -t retail-pipeline .
#   docker run --rm retail-pipeline --help

# The toolchain the workspace is built and tested with (Cargo.lock is lockfile v4).
ARG RUST_VERSION=1.95

# --- plan: only the manifests, with empty sources, so that the dependency layer below is
# rebuilt when a Cargo.toml or Cargo.lock changes, not on every source edit.
FROM rust:${RUST_VERSION}-bookworm AS plan
WORKDIR /src
COPY . .
RUN set -eu; mkdir -p /plan; \
    cp Cargo.toml Cargo.lock /plan/; \
    for manifest in crates/*/Cargo.toml; do \
        dir=$(dirname "$manifest"); \
        mkdir -p "/plan/$dir/src"; \
        cp "$manifest" "/plan/$dir/"; \
        if [ -f "$dir/src/main.rs" ]; then echo 'fn main() {}' > "/plan/$dir/src/main.rs"; fi; \
        if [ -f "$dir/src/lib.rs" ]; then : > "/plan/$dir/src/lib.rs"; fi; \
    done

# --- build: librdkafka is compiled from source by rdkafka-sys (gcc, make, zlib and OpenSSL
# headers for TLS/SASL_SSL/SCRAM; no cmake: the `cmake-build` feature is not used).
FROM rust:${RUST_VERSION}-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc make zlib1g-dev libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies (librdkafka included) first: cached while the manifests stay the same.
COPY --from=plan /plan/ ./
RUN cargo build --release --locked -p pipeline
# Then the real sources; touched so cargo rebuilds the workspace crates over the stubs.
COPY . .
RUN find crates -name '*.rs' -exec touch {} + \
    && cargo build --release --locked -p pipeline \
    && install -m 0755 target/release/pipeline /usr/local/bin/pipeline

# --- runtime: the binary links glibc, libgcc, zlib and OpenSSL (libssl3) dynamically.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates zlib1g libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 pipeline \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin pipeline
COPY --from=build /usr/local/bin/pipeline /usr/local/bin/pipeline
USER 10001:10001
# The dashboard and its API. `pipeline` binds to loopback unless told otherwise: inside a
# container it must listen on all interfaces to be reachable through a published port.
ENV PIPELINE_LISTEN=0.0.0.0:3000
EXPOSE 3000
# No HEALTHCHECK: the image has no curl/wget, and `pipeline doctor` checks the services, not
# this process. Compose orders start-up with the healthchecks of Kafka and ClickHouse.
ENTRYPOINT ["pipeline"]
CMD ["up", "--listen", "0.0.0.0:3000"]
