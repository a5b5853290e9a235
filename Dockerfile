# Static binary (CGO_ENABLED=0: SQLite is pure Go) on distroless, non-root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/wasl ./cmd/wasl && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/wasl /usr/local/bin/wasl
COPY configs/wasl.example.yaml configs/bank.yaml /etc/wasl/
# The data volume must belong to the non-root user; distroless has no shell to chown.
COPY --from=build --chown=65532:65532 /out/data /var/lib/wasl
USER nonroot:nonroot
ENV WASL_CONFIG=/etc/wasl/wasl.yaml
VOLUME /var/lib/wasl
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/wasl"]
CMD ["serve"]
