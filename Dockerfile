# Either service, chosen by the SERVICE build argument. Build context is the repository root (docker-compose.yml
# sets it): the service compiles against the shared workspace and installs from the root lockfile.
#   docker build --build-arg SERVICE=bank -t bank-sso/bank .
#   docker build --build-arg SERVICE=retirement -t bank-sso/retirement .

# Required: bank or retirement. It picks the sources, the dependencies and the port; there is no default, so an
# image is never the wrong service by omission (without it the build stops at `FROM ${SERVICE}-runtime`).
ARG SERVICE

FROM node:24-slim AS toolchain
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
# better-sqlite3 and argon2 fetch prebuilt binaries when one matches; these compile them when none does.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Every workspace manifest, because npm ci checks them all against the lockfile. Copied before any source so
# the dependency layers below are reused until a manifest changes.
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY services/bank/package.json services/bank/
COPY services/retirement/package.json services/retirement/
COPY e2e/package.json e2e/

FROM toolchain AS build
ARG SERVICE
RUN case "$SERVICE" in bank | retirement) ;; *) echo "SERVICE must be bank or retirement, got '$SERVICE'" >&2; exit 1 ;; esac
RUN npm ci
COPY tsconfig.base.json ./
COPY shared/tsconfig.json shared/
COPY shared/src shared/src
COPY services/${SERVICE}/tsconfig.json services/${SERVICE}/
COPY services/${SERVICE}/src services/${SERVICE}/src
# Builds shared through the project reference, and only this service: the other one's sources are not here.
RUN npx tsc --build services/${SERVICE}

FROM toolchain AS production-dependencies
ARG SERVICE
# Only what this service needs at run time (no compiler, no test tools), native modules built for this base.
RUN npm ci --omit=dev --workspace services/${SERVICE}

# The one setting that differs per service and that the image itself needs: the port, which the HEALTHCHECK reads.
# A Dockerfile cannot map bank to 3000 in an ENV, so each service has a stage and SERVICE picks one below.
FROM node:24-slim AS bank-runtime
ENV PORT=3000
FROM node:24-slim AS retirement-runtime
ENV PORT=3001

FROM ${SERVICE}-runtime AS runtime
ARG SERVICE
# No DATABASE_PATH here: DATABASE_URL (PostgreSQL) and DATABASE_PATH together are refused, so the image must not set
# one behind the operator's back. The default, data/<service>.sqlite in the service's folder (the working directory,
# below), is /data through the link below.
ENV NODE_ENV=production HOST=0.0.0.0
WORKDIR /app
# node_modules links @sso/shared to ../../shared, so the shared package sits at the same place as in the repo.
COPY --from=production-dependencies /app ./
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/services/${SERVICE}/dist services/${SERVICE}/dist
# The code stays owned by root and read-only to the service; only the database directory is writable.
# A new named volume mounted on /data starts as a copy of this directory, ownership included.
RUN mkdir /data && chown node:node /data && ln -s /data /app/services/${SERVICE}/data
USER node
EXPOSE ${PORT}
# Slim images have no curl; node's fetch does the same job.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# An exec-form CMD cannot name ${SERVICE}, so the service's folder is the working directory and the path is relative.
WORKDIR /app/services/${SERVICE}
CMD ["node", "dist/server.js"]
