# syntax=docker/dockerfile:1
# Build stage: compile what ships (core/ and plugins/, per tsconfig.build.json), then drop dev dependencies.
# test/kernel/docker-build.test.ts lays this file out without a Docker engine and starts the result.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY core core
COPY plugins plugins
COPY config config
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: one image for every role (serve, work, all) and for admin commands.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY config config
RUN ln -s /app/dist/core/cli/main.js /usr/local/bin/gateway && chmod +x dist/core/cli/main.js
USER node
EXPOSE 8080 9464
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.HEALTH_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "/app/dist/core/cli/main.js"]
CMD ["serve"]
