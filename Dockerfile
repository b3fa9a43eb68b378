# syntax=docker/dockerfile:1
#
# Once container images (needs BuildKit, the default builder of current Docker).
#
#   docker build -t once .                    # default: SQLite + key ring in the /data volume
#   docker build -t once:lite --target lite . # lite: memory:// store, nothing written to disk
#
#   docker run -d --name once -p 7143:7143 -v once-data:/data \
#     -e ONCE_BASE_URL=https://once.example.com once
#
# Both images hold one static binary (x86_64-unknown-linux-musl) on distroless/static,
# run as uid 10001, listen on 0.0.0.0:7143 and stop cleanly on SIGTERM (requests in flight are
# finished first). They are x86_64 only: on another host add `--platform linux/amd64`.
# See docs/DEPLOY.md.

ARG RUST_VERSION=1.95

# --- build ---------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS build

# musl-gcc compiles the bundled SQLite (rusqlite "bundled") for the static target.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools file \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add x86_64-unknown-linux-musl
ENV CC_x86_64_unknown_linux_musl=musl-gcc \
    CARGO_TERM_COLOR=never

WORKDIR /src
COPY . .
# The registry and target directories are BuildKit cache mounts: a source change recompiles the
# workspace crates only, not the dependencies. The binary is copied out of the cached target dir.
RUN --mount=type=cache,id=once-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=once-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=once-target-musl,target=/src/target,sharing=locked \
    cargo build --release --locked -p once --target x86_64-unknown-linux-musl \
 && install -D -m 0755 target/x86_64-unknown-linux-musl/release/once /out/once
# Fail the build if the binary is not static (it would not run on distroless/static).
RUN file /out/once | grep -Eq 'statically linked|static-pie linked' \
 && /out/once --version

# An empty, owner-only data directory for uid 10001 (copied as /data below).
RUN install -d -m 0700 -o 10001 -g 10001 /out/data

# --- common runtime ------------------------------------------------------------------------------
# distroless/static: CA certificates, tzdata, /etc/passwd and /tmp; no shell, no package manager.
FROM gcr.io/distroless/static-debian12 AS runtime
COPY --from=build /out/once /usr/local/bin/once
ENV ONCE_LISTEN=0.0.0.0:7143
USER 10001:10001
EXPOSE 7143
STOPSIGNAL SIGTERM
# No HEALTHCHECK: the image has no shell or HTTP client to run one. Probe from the orchestrator
# instead: GET /healthz (process alive, liveness) and GET /readyz (store reachable, readiness;
# 503 while the store is down). The compose file in deploy/ has the load balancer do it.
ENTRYPOINT ["/usr/local/bin/once"]
CMD ["serve"]

# --- lite: `docker build --target lite` ----------------------------------------------------------
# Everything in memory: a fresh master key per start, every secret lost on restart, no volume.
FROM runtime AS lite
ENV ONCE_STORE=memory://

# --- default (last stage, built without --target) ------------------------------------------------
# SQLite database and key ring in /data. Mount a volume there and back up keyring.json.
FROM runtime AS default
COPY --from=build --chown=10001:10001 /out/data /data
ENV ONCE_DATA_DIR=/data
WORKDIR /data
VOLUME ["/data"]
