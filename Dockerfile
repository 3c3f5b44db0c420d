# The batch job's image. `inv build` builds it with tags and labels; a plain `docker build .`
# works too. The base image is a build argument so that it can come from a private mirror.
ARG BASE_IMAGE=python:3.11-slim

# --- dependencies: installed into a virtualenv in a stage of their own -----------------------
FROM ${BASE_IMAGE} AS dependencies
ARG UV_VERSION=0.13.8
# uv installs the requirements several times faster than pip (see "Benchmarks" in the README).
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --disable-pip-version-check "uv==${UV_VERSION}"
# Bytecode is compiled once here rather than by every container start.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
# Only requirements.txt is copied before installing, so a code-only change reuses this layer;
# the cache mount keeps downloaded wheels, so a requirements change fetches only what is new.
COPY requirements.txt /tmp/requirements.txt
RUN --mount=type=cache,target=/root/.cache/uv \
    uv venv /opt/venv \
 && uv pip install --python /opt/venv/bin/python -r /tmp/requirements.txt

# --- the final image: the base, the virtualenv and src/, nothing that builds -------------------
FROM ${BASE_IMAGE}
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app \
 && mkdir -p /app/output \
 && chown app:app /app/output
COPY --from=dependencies /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
COPY src/ src/
RUN python -m compileall -q src

# OCI labels, filled in by `inv build` (empty with a plain `docker build .`). They come last so
# that a new commit changes no layer above.
ARG GIT_SHA="" BUILD_DATE="" VERSION="" SOURCE_URL="" TITLE=app-name
LABEL org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.title="${TITLE}"

USER 10001:10001
# Exec form: Python gets SIGTERM from `docker stop` directly (the tasks also add an init).
ENTRYPOINT ["python", "src/main.py"]
CMD ["train"]
