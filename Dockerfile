# The image the workers, the dashboard and the one-shot hpo commands run.
#
# Build arguments (all optional):
#   BASE_IMAGE     the Python 3.11 image to start from (default python:3.11-slim)
#   EXTRA_CA_CERT  a PEM file in the build context to trust besides the system's authorities,
#                  for a network whose outgoing TLS goes through an inspecting proxy
#   TORCH_WHEELS   a folder in the build context holding a torch wheel to install instead of
#                  PyPI's (e.g. a CPU build: on linux/amd64 PyPI serves the multi-GB CUDA one)
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG EXTRA_CA_CERT=docker/no-extras
ARG TORCH_WHEELS=docker/no-extras
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 HF_HOME=/cache/huggingface
WORKDIR /app

COPY ${EXTRA_CA_CERT} /tmp/build-extras/ca/
RUN set -e; for cert in /tmp/build-extras/ca/*; do \
        case "$cert" in *.pem|*.crt) cat "$cert" >> /etc/ssl/certs/ca-certificates.crt; \
            printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > /etc/pip.conf;; esac; \
    done; \
    rm -rf /tmp/build-extras/ca

# torch first, pinned, in a layer of its own (the slowest step; kept when the code changes).
COPY ${TORCH_WHEELS} /tmp/build-extras/wheels/
RUN set -e; if ls /tmp/build-extras/wheels/torch-*.whl >/dev/null 2>&1; then \
        pip install /tmp/build-extras/wheels/torch-*.whl; \
    else pip install "torch==2.13.0"; fi; \
    rm -rf /tmp/build-extras/wheels

# The dependencies next, from pyproject.toml alone (kept when only the code changes), then the code.
COPY pyproject.toml ./
RUN mkdir hpo objectives && touch README.md hpo/__init__.py objectives/__init__.py \
    && pip install ".[demo]" && pip uninstall -y -q hpo && rm -rf README.md hpo objectives build
COPY README.md ./
COPY hpo ./hpo
COPY objectives ./objectives
COPY search_spaces ./search_spaces
RUN pip install --no-deps .

# Configs, data files and outputs live in the bind-mounted work folder (see docker-compose.yml).
WORKDIR /files
ENTRYPOINT ["hpo"]
CMD ["--help"]
