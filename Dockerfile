# The batch job's image. `inv build` builds it with tags and labels; a plain
# `docker buildx build --build-context launcher=docker_tasks/launcher .` works too. The base
# image is a build argument so that it can come from a private mirror. Its default is pinned by
# digest, as tags move: `inv base` says whether the tag has moved since, and `inv base --update`
# moves the pin. A BASE_IMAGE given in .env or the environment wins.
ARG BASE_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7
# `inv build --reproducible` sets it to `reproducible` (see the end of this file).
ARG BUILD_MODE=everyday

# --- uv, the installer: a stage of its own, mounted where needed, never part of the image ------
FROM ${BASE_IMAGE} AS uv
ARG UV_VERSION=0.13.8
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --disable-pip-version-check --no-compile --no-deps "uv==${UV_VERSION}"

# --- requirements.lock, written by `inv lock` and never part of the image -----------------------
# The project's requirements (LOCK_SOURCE: requirements.txt, or pyproject.toml's [project]
# dependencies with the optional groups LOCK_EXTRAS) resolved for this image's Python, with the
# hash of every file each version has (all platforms'), keeping the versions the current lock
# pins; LOCK_UPGRADE=1 moves them to the newest the requirements allow. A uv.lock is not resolved
# again but exported as it is, refused if pyproject.toml has changed since (`uv lock`).
FROM uv AS lock
ARG LOCK_SOURCE=requirements.txt
ARG LOCK_EXTRAS=""
ARG LOCK_UPGRADE=""
# A public index uv also looks in, first (EXTRA_INDEX_URL in .env; docs/your-project.md, "A PyTorch job").
ARG EXTRA_INDEX_URL=""
WORKDIR /context
# The groups are split into words on purpose (SC2086).
# hadolint ignore=SC2086
RUN --mount=type=bind,target=/context \
    --mount=type=cache,target=/root/.cache/uv \
    --mount=type=secret,id=index_url,target=/run/index_url \
    { cp requirements.lock /requirements.lock 2>/dev/null || true; } \
 && if [ -s /run/index_url ]; then UV_DEFAULT_INDEX="$(cat /run/index_url)"; export UV_DEFAULT_INDEX; fi \
 && if [ -n "$EXTRA_INDEX_URL" ]; then export UV_INDEX="$EXTRA_INDEX_URL"; fi \
 && extras="$(for group in $LOCK_EXTRAS; do printf -- '--extra %s ' "$group"; done)" \
 && export UV_PYTHON_DOWNLOADS=never \
 && if [ "$LOCK_SOURCE" = uv.lock ]; then \
      uv export --quiet --locked --no-emit-workspace --no-dev --format requirements-txt $extras -o /requirements.lock; \
    else \
      uv pip compile --quiet --generate-hashes --custom-compile-command "inv lock" ${LOCK_UPGRADE:+--upgrade} \
        $extras "$LOCK_SOURCE" -o /requirements.lock; \
    fi
FROM scratch AS locked
COPY --from=lock /requirements.lock /

# The machinery's own files for the image (docker_tasks/launcher/), which `inv build` puts in place
# of this stand-in; they need not pass the project's .dockerignore. BuildKit wants every file a
# step mounts to exist, so the stand-in has them, empty, and the first step that mounts one says
# what to do instead.
FROM ${BASE_IMAGE} AS launcher
RUN touch /dated-run /run_job.py /venv_layers.py

# --- the image: the base, the job's requirements in /opt/venv, and src/ ------------------------
# Every RUN step of the image runs through dated-run (docker_tasks/launcher/), which dates what
# the step wrote 1 January 1980, so that a layer depends on its inputs alone and two builds of one
# commit give one image (docs/reproducible-builds.md). A mount goes below the tmpfs at /mnt: one
# whose target is missing would leave its folder dated by the build.

# --- run-time: the job's user, its folders and the system libraries it needs --------------------
FROM ${BASE_IMAGE} AS runtime
RUN --mount=type=tmpfs,target=/mnt \
    --mount=from=launcher,source=dated-run,target=/mnt/dated-run \
    if [ ! -s /mnt/dated-run ]; then \
      echo "error: build with inv build, or add --build-context launcher=docker_tasks/launcher" >&2; exit 1; \
    fi \
 && sh /mnt/dated-run -c 'install -m 755 /mnt/dated-run /usr/local/bin/dated-run'
SHELL ["/usr/local/bin/dated-run", "-c"]
# Where the job writes: output_dir of the job contract (pyproject.toml), passed by `inv build`.
ARG JOB_OUTPUT_DIR=/app/output
# The user's password-change day is left blank: useradd would write today's. /cache is where
# `inv run` mounts the project's model cache volume (HF_HOME, TORCH_HOME, XDG_CACHE_HOME), which a
# new volume makes as this folder is: writable by whichever user the job runs as, like /tmp.
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app \
 && sed -i -E 's/^(app:[^:]*):[0-9]*:/\1::/' /etc/shadow \
 && mkdir -p /app "${JOB_OUTPUT_DIR}" /cache \
 && chown app:app "${JOB_OUTPUT_DIR}" \
 && chmod 1777 /cache

# The system libraries the job needs (system-packages.txt: one Debian package a line, e.g.
# libgomp1 for lightgbm and xgboost), in a layer of their own before the requirements, so that a
# changed requirements.txt does not install them again. apt's downloads stay in BuildKit's cache,
# not in the image; apt's and dpkg's logs, which hold the time of the build, are emptied (a file
# deleted from the base leaves a mark dated by the build). An empty list installs nothing. A line
# `name=version` pins a version, so the versions are the list's to pin (DL3008), and the list is
# split into words on purpose (SC2086).
# hadolint ignore=DL3008,SC2086
RUN --mount=type=tmpfs,target=/mnt \
    --mount=type=bind,source=system-packages.txt,target=/mnt/system-packages.txt \
    --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    packages="$(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' /mnt/system-packages.txt)" \
 && if [ -n "$packages" ]; then \
      : > /etc/apt/apt.conf.d/docker-clean \
      && apt-get update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages \
      && for log in /var/log/apt/history.log /var/log/apt/term.log /var/log/apt/eipp.log.xz /var/log/dpkg.log \
                    /var/log/alternatives.log /var/cache/ldconfig/aux-cache; do \
           if [ -e "$log" ]; then : > "$log"; fi; \
         done; \
    fi

# --- your own steps: RUN lines here reach the builder and the image, and dated-run keeps them
# reproducible (a download should name its version and check its hash; mounts go below /mnt).


# --- the builder: run-time plus build-packages.txt, where the virtualenv is made -----------------
# Compilers and headers (build-packages.txt: gcc, libpq-dev, ...) that packages built from source
# need, here alone: the image gets the virtualenv they built, never them. This stage's own layers
# never reach the image, so only its virtualenv is dated, and only in a reproducible build: an
# everyday one keeps the dates its bytecode was checked against. An empty list installs nothing.
FROM runtime AS builder
ARG DATED_RUN=reproducible
# hadolint ignore=DL3008,SC2086
RUN --mount=type=tmpfs,target=/mnt \
    --mount=type=bind,source=build-packages.txt,target=/mnt/build-packages.txt \
    --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    packages="$(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' /mnt/build-packages.txt)" \
 && if [ -n "$packages" ]; then \
      : > /etc/apt/apt.conf.d/docker-clean \
      && apt-get update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages; \
    fi

# The requirements, exactly as requirements.lock pins them, each file checked against its hash,
# before the code, so that a code-only change reuses this layer. uv installs several times faster
# than pip (docs/benchmarks.md). For everyday builds the virtualenv is kept in a BuildKit cache
# (one per Python version) and synced to the lock, so a changed lock installs and byte-compiles
# only what changed; the copy of it becomes the layer. uv checks hashes only of what it installs,
# so every package whose entry in the lock (version or hashes) differs from the lock the cached
# virtualenv was last synced to is installed again, and checked. A reproducible build makes a
# fresh virtualenv instead, with bytecode that records hashes rather than times, so that the
# layer depends on the lock alone. Bytecode is compiled here, once, rather than by every
# container start, but not for the packages' own test suites (more than half the files of
# pandas, scipy and scikit-learn), which a job never imports. One process: with the cache warm it
# only checks, and a worker pool costs more than that. Some packages ship .py files that are not
# Python (templates, say): compileall counts them as failures, which must not fail the build.
# A missing list of the last lock means "all changed", which is why a failing first command of
# those pipes may pass (DL4006); the changed packages' names are split into words on purpose
# (SC2046).
# A private package index: `inv build --secret id=index_url,env=PRIVATE_INDEX_URL` (and the same
# to `inv lock`), with PRIVATE_INDEX_URL=https://USER:TOKEN@pypi.example.com/simple in .env or
# the environment, makes it the index uv installs from. BuildKit mounts the URL as a file for this
# step alone: it reaches no layer, no history and no output (tests/integration/test_hardening.py
# scans for it), and the hashes in the lock still decide what may be installed.
ARG BUILD_MODE
ARG EXTRA_INDEX_URL=""
# hadolint ignore=DL4006,SC2046
RUN --mount=type=tmpfs,target=/mnt \
    --mount=from=uv,source=/usr/local/bin/uv,target=/mnt/uv \
    --mount=type=bind,source=requirements.lock,target=/mnt/requirements.lock \
    --mount=type=cache,target=/mnt/uv-cache \
    --mount=type=cache,target=/mnt/venvs,sharing=locked \
    --mount=type=secret,id=index_url,target=/mnt/index_url \
    --mount=from=launcher,source=venv_layers.py,target=/mnt/venv_layers.py \
    export UV_CACHE_DIR=/mnt/uv-cache UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
 && if [ -s /mnt/index_url ]; then \
      UV_DEFAULT_INDEX="$(cat /mnt/index_url)" && export UV_DEFAULT_INDEX \
      && echo "installing from the private package index of the secret index_url"; \
    fi \
 && if [ -n "$EXTRA_INDEX_URL" ]; then export UV_INDEX="$EXTRA_INDEX_URL"; fi \
 && if [ "$BUILD_MODE" = reproducible ]; then venv=/opt/venv bytecode=unchecked-hash; \
    else venv="/mnt/venvs/$(python -c 'import sys; print(sys.version.split()[0])')" bytecode=timestamp; fi \
 && { [ -x "$venv/bin/python" ] || /mnt/uv venv --quiet --relocatable "$venv"; } \
 && entries() { awk '/^[A-Za-z0-9]/ { if (e) print e; e = "" } /^[A-Za-z0-9]|--hash=/ { e = e $0 } \
                     END { if (e) print e }' "$1" | tr -d ' \\' | sort; } \
 && entries /mnt/requirements.lock > /mnt/wanted \
 && { entries "$venv.synced" 2>/dev/null || true; } | comm -13 - /mnt/wanted | sed 's/==.*//' > /mnt/changed \
 && /mnt/uv pip sync --require-hashes $(sed 's/^/--reinstall-package=/' /mnt/changed) \
      --python "$venv/bin/python" /mnt/requirements.lock \
 && { "$venv/bin/python" -m compileall -qq --invalidation-mode "$bytecode" -x '/tests?/' "$venv/lib" || true; } \
 && { [ "$venv" = /opt/venv ] || { cp -a "$venv" /opt/venv && cp /mnt/requirements.lock "$venv.synced"; }; } \
 && rm -f /opt/venv/.lock \
 && python /mnt/venv_layers.py /opt/venv /layers

# --- dependencies: run-time and the builder's virtualenv, without the builder's compilers ------
# The virtualenv as 16 layers (docker_tasks/launcher/venv_layers.py): 00 the virtualenv itself,
# 01-07 the largest packages one each, 08-15 the rest in buckets by name; so a one-package change
# sends one small layer again, not the whole virtualenv. Each is independent of the layers below
# (--link), and its files keep the builder's dates: 1980.
FROM runtime AS dependencies
COPY --link --from=builder /layers/00/ /
COPY --link --from=builder /layers/01/ /
COPY --link --from=builder /layers/02/ /
COPY --link --from=builder /layers/03/ /
COPY --link --from=builder /layers/04/ /
COPY --link --from=builder /layers/05/ /
COPY --link --from=builder /layers/06/ /
COPY --link --from=builder /layers/07/ /
COPY --link --from=builder /layers/08/ /
COPY --link --from=builder /layers/09/ /
COPY --link --from=builder /layers/10/ /
COPY --link --from=builder /layers/11/ /
COPY --link --from=builder /layers/12/ /
COPY --link --from=builder /layers/13/ /
COPY --link --from=builder /layers/14/ /
COPY --link --from=builder /layers/15/ /

# src/ is on the import path, so a package there runs as `python -m package` with no shim.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app/src \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# The entrypoint, /usr/local/bin/run-job (docker_tasks/launcher/run_job.py, standard library
# only): it runs the job contract's command (pyproject.toml, passed by `inv build`) with the
# container's arguments, or the default ones, and on AWS Batch fetches the files sent along and
# uploads the outputs, so the job itself knows only its folders.
ARG JOB_COMMAND="python src/main.py"
ARG JOB_DEFAULT_ARGS=""
ARG JOB_OUTPUT_DIR=/app/output
RUN --mount=type=tmpfs,target=/mnt \
    --mount=from=launcher,source=run_job.py,target=/mnt/run_job.py \
    install -m 755 /mnt/run_job.py /usr/local/bin/run-job \
 && mkdir -p /usr/local/etc \
 && printf 'command=%s\ndefault_args=%s\noutput_dir=%s\n' "$JOB_COMMAND" "$JOB_DEFAULT_ARGS" "$JOB_OUTPUT_DIR" \
      > /usr/local/etc/run-job
WORKDIR /app

# --- the code: what .dockerignore lets in -----------------------------------------------------
# src/, and any folder of files the job reads that you allow there (`!configs/`), each at the
# same path below /app as below the project root, so that a path relative to the root, or to the
# code, finds it here too. src/ is not byte-compiled: Python compiles it in milliseconds at
# start, while a RUN step would add a quarter of a second to every code-only build.
FROM dependencies AS code-everyday
COPY . .

# A reproducible build copies the commit's files, which `inv build --reproducible` dates 1980,
# with their dates and as root's, as COPY does; but COPY would date /app by the build. The
# context's own folder reaches the step dated by its transfer, older than the step, so /app,
# which takes its date, is dated here.
FROM dependencies AS code-reproducible
RUN --mount=type=tmpfs,target=/mnt \
    --mount=type=bind,target=/mnt/context \
    cp -R --preserve=mode,timestamps /mnt/context/. /app/ \
 && touch -h -d @315532800 /app

# hadolint ignore=DL3006
FROM code-${BUILD_MODE}
# OCI labels, filled in by `inv build` (empty with a plain `docker build .`). They come last so
# that a new commit changes no layer above.
ARG GIT_SHA="" BUILD_DATE="" VERSION="" SOURCE_URL="" TITLE=""
LABEL org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.title="${TITLE}"

# Images built FROM this one get the usual shell back.
SHELL ["/bin/sh", "-c"]
USER 10001:10001
# Exec form: the job gets SIGTERM from `docker stop` directly (the tasks also add an init).
ENTRYPOINT ["/usr/local/bin/run-job"]
