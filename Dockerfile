# Static binary (CGO_ENABLED=0: SQLite is pure Go) on distroless, non-root.
# e2e/docker_test.go runs the binary the way this file says the image does.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/wasl ./cmd/wasl && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/wasl /usr/local/bin/wasl
# It starts on configs/docker.yaml (SQLite in the data volume, no channels);
# mount a wasl.yaml of your own over /etc/wasl/wasl.yaml to add channels.
COPY configs/docker.yaml /etc/wasl/wasl.yaml
COPY configs/bank.yaml configs/wasl.example.yaml /etc/wasl/
# The data volume must belong to the non-root user; distroless has no shell to chown.
COPY --from=build --chown=65532:65532 /out/data /var/lib/wasl
USER nonroot:nonroot
WORKDIR /var/lib/wasl
ENV WASL_CONFIG=/etc/wasl/wasl.yaml
VOLUME /var/lib/wasl
# 8080: webhooks and the API; 9090: /healthz, /readyz, /metrics.
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/wasl"]
CMD ["serve"]
