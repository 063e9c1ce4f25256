# The Roster image: the `roster` CLI and the Celery app (`tasks.app`), run by docker-compose.yml
# as the one-shot migration, the workers and the beat. Feeds are served by nginx, not by this image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Metadata first so that a code-only change reuses nothing it should not: the install below needs
# the packages' sources anyway (setuptools reads them to build the wheel).
COPY pyproject.toml README.md cli.py ./
COPY scheduler ./scheduler
COPY tasks ./tasks
COPY calendars ./calendars
COPY commands ./commands
COPY demo ./demo
COPY web ./web
# A plain (non-editable) install: the container runs the installed `roster` and `celery` scripts.
RUN pip install . \
    && rm -rf build *.egg-info

# Non-root: a fixed uid so that the named feed volume (created from this image's folder, and so
# owned by it) stays writable across rebuilds. Files are written world-readable (umask 022) so
# that nginx, another user in another container, can read them through its read-only mount.
RUN groupadd --system --gid 10001 roster \
    && useradd --system --uid 10001 --gid roster --home-dir /srv/roster --no-create-home roster \
    && mkdir -p /srv/roster/feeds /srv/roster/beat \
    && chown -R roster:roster /srv/roster

ENV ROSTER_HOME=/srv/roster \
    ROSTER_FEED_DIR=/srv/roster/feeds

USER roster
WORKDIR /srv/roster

CMD ["roster", "--help"]
