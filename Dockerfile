# The image the workers, the dashboard and the one-shot create-study service run.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 HF_HOME=/cache/huggingface
WORKDIR /app

# torch first, pinned (on linux/amd64 PyPI serves the CUDA build the GPU workers need).
RUN pip install "torch==2.13.0"
COPY pyproject.toml README.md ./
COPY hpo ./hpo
COPY objectives ./objectives
COPY search_spaces ./search_spaces
RUN pip install ".[demo]"

ENTRYPOINT ["hpo"]
CMD ["--help"]
