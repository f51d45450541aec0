# syntax=docker/dockerfile:1
# Two images from one file:
#   docker build --target function      -t <repo>/function .
#   docker build --target initcontainer -t <repo>/initcontainer .
# Both are static Go binaries (CGO_ENABLED=0) on distroless/static:nonroot:
# no shell, no libc, uid 65532, which is what Pod Security "restricted" and
# readOnlyRootFilesystem want.

ARG GO_VERSION=1.26

# Build on the build host's platform and cross-compile, so multi-arch builds
# need no emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOCACHE=/cache/go-build
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH

FROM build AS build-function
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w" -o /out/function ./cmd/function

FROM build AS build-initcontainer
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w" -o /out/initcontainer ./initcontainer

FROM gcr.io/distroless/static:nonroot AS initcontainer
COPY --from=build-initcontainer /out/initcontainer /initcontainer
USER 65532:65532
ENTRYPOINT ["/initcontainer"]

# Last, so a plain `docker build .` yields the function.
FROM gcr.io/distroless/static:nonroot AS function
COPY --from=build-function /out/function /function
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/function"]
