# Builds the three Bookshelf binaries once; docker-compose.yml runs one per container.
FROM rust:1.95.0-bookworm AS build
# The toolchain of rust-toolchain.toml; its C compiler is all the JPEG decoder needs.
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p auth-service -p library-service -p gateway --bins

FROM debian:bookworm-slim
# docker-compose.yml mounts named volumes on /data/auth and /data/tls. An empty volume
# takes the owner and mode of the folder it is first mounted on, or root's when the
# image has no such folder, so both exist here, private to the user that writes them.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data bookshelf \
    && mkdir -p /data && chown bookshelf /data \
    && install -d -o bookshelf -m 0700 /data/auth /data/tls
COPY --from=build /src/target/release/auth-service /src/target/release/library-service \
    /src/target/release/gateway /usr/local/bin/
USER bookshelf
WORKDIR /data
