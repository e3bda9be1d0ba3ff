# The classification service with the shipped model (model/default):
#   docker build -t attnclf .
#   docker run --rm -p 8000:8000 attnclf        # then: curl localhost:8000/readyz
# Settings are environment variables (see app/settings.py), e.g. -e MAX_BATCH_TEXTS=32 -e CORS_ORIGINS=https://x.kr

# Bookworm, pinned: konlpy runs on Java 17, which Debian 13 (the newer slim default) no longer packages.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# konlpy's taggers run in a JVM. The man directory is missing from slim images and Java's postinst needs it.
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /srv

# Dependencies in their own layer: code changes do not reinstall TensorFlow.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY app/ app/
COPY model/ model/

RUN useradd --system --uid 10001 --create-home --home-dir /home/app app
USER app

# Every interface inside the container (the published port is the boundary); -e HOST=... still overrides it.
ENV HOST=0.0.0.0 PORT=8000
EXPOSE 8000

# Liveness only; the port listens once the model is loaded (start period covers TensorFlow and JVM start-up).
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)" || exit 1

# Exec form: python is PID 1 and gets SIGTERM, so uvicorn shuts down gracefully on `docker stop`.
CMD ["python", "-m", "app"]
