# syntax=docker/dockerfile:1
# Every image from one build: the workspace is compiled once, in one builder
# stage, and each image copies its one static binary onto distroless:
#   docker build --build-arg FUNCTION=create-booking -t skybook/create-booking .
# FUNCTION is any binary of the workspace (a function, skybook-broker,
# skybook-migrate). Building several images in a row (or with
# `docker buildx bake`) reuses the builder stage: it does not depend on FUNCTION.

# Base images by digest: a rebuild of a tag cannot change what ships. The
# tag beside each says what the digest was (docker buildx imagetools inspect).
FROM rust:1.95-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082 AS chef
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
RUN cargo chef cook --release --locked --target x86_64-unknown-linux-musl --recipe-path recipe.json
COPY . .
# Every binary that ships, in one compilation; the developer tools stay out.
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --workspace --bins \
      --exclude xtask --exclude skybook-fuzz --exclude hello-baseline \
 && mkdir /out \
 && find target/x86_64-unknown-linux-musl/release -maxdepth 1 -type f -executable -exec cp {} /out/ \;
# Declared after the build, so the compilation above is shared by every image.
ARG FUNCTION
RUN test -n "${FUNCTION}" && test -x "/out/${FUNCTION}" \
 || { echo "FUNCTION must name a binary: $(ls /out)"; exit 1; }

# distroless/static: CA certificates, no shell, user 65532; the root
# filesystem can be mounted read-only (the binary writes nothing).
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
ARG FUNCTION
COPY --from=builder /out/${FUNCTION} /function
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/function"]
