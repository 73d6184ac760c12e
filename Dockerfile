# Tetra worker: GPU queue worker.
# No syntax directive and no RUN mounts: this file builds with BuildKit and with the
# legacy builder, and needs no frontend image pulled.
ARG BASE_IMAGE=pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime
FROM ${BASE_IMAGE}

# uv from its pinned release image (a local image of this name is used without a pull).
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /bin/uv

WORKDIR /app

# Dependency layers: only the project metadata and the lock file, so a change in worker/
# rebuilds nothing above the COPY of worker/ below.
ENV UV_PYTHON_DOWNLOADS=never
COPY pyproject.toml uv.lock ./
RUN uv export --quiet --frozen --no-dev --no-emit-project --no-header --output-file /tmp/requirements.txt \
    && uv pip install --system --no-cache -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY worker/ ./worker/
ENV PYTHONUNBUFFERED=1
CMD ["python", "-u", "-m", "worker.handler"]
