# syntax=docker/dockerfile:1

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
 && cp target/release/switchboard /usr/local/bin/switchboard

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system switchboard \
 && useradd --system --gid switchboard --home-dir /var/lib/switchboard --shell /usr/sbin/nologin switchboard \
 && install -d -o switchboard -g switchboard -m 0750 /var/lib/switchboard
COPY --from=builder /usr/local/bin/switchboard /usr/local/bin/switchboard

ENV SWITCHBOARD_LISTEN=0.0.0.0:8080 \
    SWITCHBOARD_DATA_DIR=/var/lib/switchboard
USER switchboard
WORKDIR /var/lib/switchboard
VOLUME ["/var/lib/switchboard"]
EXPOSE 8080
ENTRYPOINT ["switchboard"]
CMD ["serve"]
