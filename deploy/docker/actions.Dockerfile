# The rasa-sdk action server; its background jobs (ticket delivery) start with it
# (rasa_sdk_plugins/). Build from the repository root:
#   docker build -f deploy/docker/actions.Dockerfile -t imago-actions:1 .
FROM python:3.10.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SQLALCHEMY_SILENCE_UBER_WARNING=1 \
    IMAGO_DOTENV=off

WORKDIR /app
COPY pyproject.toml README.md ./
COPY actions/ actions/
COPY extensions/ extensions/
COPY rasa_sdk_plugins/ rasa_sdk_plugins/
# This project, whose own pins (rasa==3.6.21, rasa-sdk==3.6.2, ...) are in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[postgres]"
COPY data/policy/ data/policy/

RUN useradd --uid 10001 --home-dir /app --no-create-home imago
USER 10001
EXPOSE 5055
ENTRYPOINT ["python", "-m", "rasa_sdk"]
CMD ["--actions", "actions", "--port", "5055"]
