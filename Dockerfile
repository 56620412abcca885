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
#
# Base images are pinned by digest, the tag beside it: a tag can be moved to
# other content, a digest cannot. Dependabot's docker ecosystem
# (.github/dependabot.yml) proposes the new digest when the tag moves.
# The binary is built with `cargo auditable`, which embeds its dependency
# list (crates and versions, from Cargo.lock) in the executable, so
# `cargo audit bin` and image scanners can check what it was built from.

FROM rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1 AS chef
# cargo-chef and cargo-auditable, pinned; both versions build with Rust 1.95.
RUN cargo install cargo-chef --version 0.1.78 --locked \
 && cargo install cargo-auditable --version 0.7.7 --locked
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ENV SQLX_OFFLINE=true
COPY --from=planner /app/recipe.json recipe.json
# The dependencies compile here with plain cargo; `cargo auditable` below
# wraps only the workspace's own crates (RUSTC_WORKSPACE_WRAPPER), so this
# layer is reused as it is.
RUN cargo chef cook --release --locked -p bulkhead --recipe-path recipe.json
COPY . .
# The build script of the binary reads APP_VERSION and GIT_SHA; they show in
# `bulkhead --version`, the build_info metric and the start-up log line.
ARG VERSION=0.0.0-dev
ARG GIT_SHA=unknown
RUN APP_VERSION="${VERSION}" GIT_SHA="${GIT_SHA}" \
    cargo auditable build --release --locked -p bulkhead \
 && cp target/release/bulkhead /usr/local/bin/bulkhead \
 && /usr/local/bin/bulkhead --version

FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f AS runtime
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
