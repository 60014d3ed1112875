# syntax=docker/dockerfile:1
# One image per function, a static binary on distroless as a non-root user:
#   docker build --build-arg FUNCTION=create-booking -t skybook/create-booking .
# FUNCTION is any binary of the workspace (a function, skybook-broker, skybook-migrate).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS chef
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl \
 && cargo install cargo-chef --locked --version 0.1.71
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# Dependencies are built from the recipe alone: this layer stays cached
# until Cargo.toml or Cargo.lock change.
FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --target x86_64-unknown-linux-musl --recipe-path recipe.json
COPY . .
ARG FUNCTION
RUN test -n "${FUNCTION}" \
 && cargo build --release --target x86_64-unknown-linux-musl --bin "${FUNCTION}" \
 && cp "target/x86_64-unknown-linux-musl/release/${FUNCTION}" /function

# distroless/static: CA certificates, no shell, user 65532; the root
# filesystem can be mounted read-only (the binary writes nothing).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=builder /function /function
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/function"]
