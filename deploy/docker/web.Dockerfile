# The demo site, the policy page and the chat widget (web/server.py).
# Build from the repository root:
#   docker build -f deploy/docker/web.Dockerfile -t imago-web:1 .
FROM node:20.18.1-bookworm-slim AS widget
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts --loglevel=error

FROM python:3.10.13-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    IMAGO_DOTENV=off \
    WEB_HOST=0.0.0.0 \
    WEB_PORT=8080

WORKDIR /app
COPY pyproject.toml README.md ./
COPY imago_core/ imago_core/
COPY actions/ actions/
COPY extensions/ extensions/
COPY rasa_sdk_plugins/ rasa_sdk_plugins/
# The web server needs only the policy catalogue; rasa is not installed.
RUN pip install --no-cache-dir --no-deps . \
 && pip install --no-cache-dir "SQLAlchemy>=1.4,<1.5" "python-dotenv>=1.0" "python-dateutil>=2.8" "requests>=2.28" "PyYAML>=6,<7"
COPY data/policy/ data/policy/
# Every text a visitor reads, per language (imago_core/language/texts.py).
COPY data/texts/ data/texts/
COPY web/ web/
COPY --from=widget /web/node_modules/socket.io-client/dist/socket.io.min.js web/vendor/socket.io.min.js

RUN useradd --uid 10001 --home-dir /app --no-create-home imago
USER 10001
EXPOSE 8080
ENTRYPOINT ["python", "-m", "web.server"]
