# Builds the three Bookshelf binaries once; docker-compose.yml runs one per container.
FROM rust:1.95.0-bookworm AS build
# The toolchain of rust-toolchain.toml; its C compiler is all the JPEG decoder needs.
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p auth-service -p library-service -p gateway --bins

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install --yes --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data bookshelf \
    && mkdir -p /data && chown bookshelf /data
COPY --from=build /src/target/release/auth-service /src/target/release/library-service \
    /src/target/release/gateway /usr/local/bin/
USER bookshelf
WORKDIR /data
