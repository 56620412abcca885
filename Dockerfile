# The bulkhead service image.
#
#   docker build --build-arg VERSION=1.2.3 --build-arg GIT_SHA=$(git rev-parse HEAD) -t bulkhead:dev .
#   (or `make docker`)
#
# Three build stages and a distroless runtime:
#   planner  computes cargo-chef's recipe (the dependency graph, no code);
#   builder  compiles the dependencies from the recipe alone, a layer that is
#            reused until Cargo.toml or Cargo.lock change, then the service;
#   runtime  gcr.io/distroless/cc-debian12:nonroot: glibc, libgcc and CA
#            certificates, no shell, no package manager; user 65532.
# Queries are checked at compile time against the committed .sqlx/ data
# (SQLX_OFFLINE=true), so no database is needed to build.

FROM rust:1.95-bookworm AS chef
# cargo-chef, pinned; 0.1.78 builds with Rust 1.95.
RUN cargo install cargo-chef --version 0.1.78 --locked
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ENV SQLX_OFFLINE=true
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --locked -p bulkhead --recipe-path recipe.json
COPY . .
# The build script of the binary reads APP_VERSION and GIT_SHA; they show in
# `bulkhead --version`, the build_info metric and the start-up log line.
ARG VERSION=0.0.0-dev
ARG GIT_SHA=unknown
RUN APP_VERSION="${VERSION}" GIT_SHA="${GIT_SHA}" \
    cargo build --release --locked -p bulkhead \
 && cp target/release/bulkhead /usr/local/bin/bulkhead \
 && /usr/local/bin/bulkhead --version

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
ARG VERSION=0.0.0-dev
ARG GIT_SHA=unknown
LABEL org.opencontainers.image.title="bulkhead" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=builder /usr/local/bin/bulkhead /usr/local/bin/bulkhead
# Numeric, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 65532:65532
# 8080: public HTTP (HTTP_ADDR). 9090: admin, /metrics and /debug/log-level
# (ADMIN_ADDR); never publish it.
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/bulkhead"]
CMD ["serve"]
