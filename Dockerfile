# syntax=docker/dockerfile:1
# Build stage: install the bot and its dependencies into a virtualenv.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY cogs ./cogs
# The Discord and kie.ai stand-ins ship in the package: `python -m bot demo` runs them.
COPY imagine_standins ./imagine_standins
# Non-editable: the image carries the installed package, not the source tree.
RUN /opt/venv/bin/pip install --no-cache-dir .

# Run stage: the virtualenv only, as an unprivileged user.
FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////data/imagine.db \
    WEB_PORT=8080
# A font with Chinese glyphs, so /imagine-admin usage can draw its chart in Chinese.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei=0.2.0-beta-3.1 \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin imagine \
    && mkdir -p /data && chown imagine /data
COPY --from=build /opt/venv /opt/venv
USER 10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WEB_PORT', '8080'), timeout=4).status == 200 else 1)"]
ENTRYPOINT ["python", "-m"]
CMD ["bot"]
