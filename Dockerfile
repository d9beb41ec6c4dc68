# monitor: the daemon in a container. `docker compose up` runs it with PostgreSQL (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the package with the PostgreSQL driver (psycopg 3, binary wheel: no compiler needed).
WORKDIR /build
COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN pip install '.[postgres]' && rm -rf /build

# Run as an unprivileged user in /srv/monitor: rules/, alerts/, examples/ (the samples, replaced by
# volumes in docker-compose.yml) and data/ (the SQLite default, when MONITOR_DB is not PostgreSQL).
RUN useradd --system --uid 10001 --user-group --home-dir /srv/monitor --create-home monitor
WORKDIR /srv/monitor
COPY --chown=monitor:monitor rules ./rules
COPY --chown=monitor:monitor alerts ./alerts
COPY --chown=monitor:monitor examples ./examples
RUN mkdir -p data && chown monitor:monitor data
USER monitor
VOLUME ["/srv/monitor/data"]

# 0.0.0.0 inside the container only, so a published port reaches it: publish it on 127.0.0.1
# (docker run -p 127.0.0.1:8080:8080, as docker-compose.yml does).
ENV MONITOR_HTTP=0.0.0.0:8080
EXPOSE 8080
# /healthz answers 200 while the scheduler runs and the database answers (the image has no curl).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

ENTRYPOINT ["monitor"]
CMD ["run"]
