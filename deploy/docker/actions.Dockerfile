# The token-guarded action server (actions/server.py: needs ACTION_SERVER_TOKEN, and
# OTP_SECRET like every process using imago_core); its background jobs (ticket
# delivery, daily retention purge) start with it (rasa_sdk_plugins/). Build from the repository root:
#   docker build -f deploy/docker/actions.Dockerfile -t imago-actions:1 .
FROM python:3.10.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SQLALCHEMY_SILENCE_UBER_WARNING=1 \
    IMAGO_DOTENV=off

WORKDIR /app
COPY pyproject.toml README.md ./
COPY imago_core/ imago_core/
COPY actions/ actions/
COPY extensions/ extensions/
COPY rasa_sdk_plugins/ rasa_sdk_plugins/
# This project, whose own pins (rasa==3.6.21, rasa-sdk==3.6.2, ...) are in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[postgres]"
COPY data/policy/ data/policy/
# Every text a visitor reads, per language (imago_core/language/texts.py).
COPY data/texts/ data/texts/
COPY data/mails/ data/mails/

RUN useradd --uid 10001 --home-dir /app --no-create-home imago
USER 10001
EXPOSE 5055
ENTRYPOINT ["python", "-m", "actions.server"]
# All interfaces inside the pod; calls without the token are refused all the same.
CMD ["--host", "0.0.0.0", "--port", "5055"]
