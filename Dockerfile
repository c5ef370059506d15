# syntax=docker/dockerfile:1
# TradePro: one image for every service; the command picks it (api, ws, engine, poller,
# migrate). docker-compose.yml runs them all on Redis and PostgreSQL.

# The web UI's chart library, installed from npm exactly as the lockfile pins it.
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund

# Wheels for the package and every dependency (the runtime stage needs no compiler).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
COPY --from=web /web/node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js \
     src/tradepro/web/static/vendor/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 --user-group tradepro
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels tradepro && rm -rf /wheels
USER tradepro
WORKDIR /home/tradepro
# Production by default: the services refuse to start without a real JWT_SECRET.
# A container listens on every interface (its ports are published deliberately).
ENV TRADEPRO_ENV=production \
    TRADEPRO_DATA_DIR=/home/tradepro/data \
    BIND_HOST=0.0.0.0
EXPOSE 4000 8080
ENTRYPOINT ["tradepro"]
CMD ["api"]
