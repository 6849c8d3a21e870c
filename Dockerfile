# Multi-stage build: a static causalrec binary in a small runtime image.
# Built-in plugins run from the same binary (it executes itself), so the
# image needs nothing else.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/causalrec ./host/cmd/causalrec

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/causalrec /usr/local/bin/causalrec
EXPOSE 8080 9090
USER nonroot
ENTRYPOINT ["/usr/local/bin/causalrec"]
# serve listens on every interface of the container, so it refuses to start
# without an API token (CAUSALREC_API_TOKEN) and without a Redis that
# persists (REDIS_URL):
#   docker run -e REDIS_URL=redis://redis:6379 -e CAUSALREC_API_TOKEN=... -p 8080:8080 causalrec
# To try it out without either, append --embedded --insecure-no-auth to the
# command (data is lost when the container stops; anyone who reaches the
# port may use the API).
CMD ["serve", "--http", "0.0.0.0:8080", "--grpc", "0.0.0.0:9090"]
