# GPU worker image for content-factory: a Prefect worker in the `gpu` pool.
#
# NOT BUILT OR RUN BY THE TESTS (no Docker and no GPU on the test machines); it is the recipe for
# the scale-out setup in docs/scale-out.md. Build and run on a GPU host:
#
#   docker build -t content-factory-gpu .
#   docker run --gpus all --env-file factory.env content-factory-gpu
#
# factory.env holds PREFECT_API_URL, FACTORY_DATABASE_URL, FACTORY_STORE_URL, FACTORY_CACHE_URL,
# AWS credentials and FACTORY_WEIGHTS_DIR (mount the weights; they are not in the image).
# Set WORKER_LIMIT to the number of GPUs given to the container.

# CUDA 12.4 runtime with cuDNN; torch's CUDA wheel brings its own CUDA libraries, the base image
# brings the driver-facing runtime and a matching glibc.
FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    FACTORY_BACKEND=model \
    FACTORY_DEVICE=cuda \
    FACTORY_CODE_DIR=/opt/content-factory \
    WORKER_LIMIT=1

# Python 3.11, the fonts subtitles need (Latin, Arabic, CJK; see docs/platform facts) and
# espeak-ng, the offline voice of every language without a bundled neural one.
RUN apt-get update && apt-get install -y --no-install-recommends \
        python3.11 python3.11-venv python3-pip ca-certificates \
        fonts-dejavu-core fonts-wqy-microhei fonts-noto-cjk fontconfig espeak-ng \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/content-factory
RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Dependencies first (cached layer), CUDA build of torch from PyTorch's index, then the project.
COPY pyproject.toml ./
RUN pip install --upgrade pip \
    && pip install "torch==2.5.1" --index-url https://download.pytorch.org/whl/cu124
COPY common ./common
COPY media ./media
COPY flows ./flows
COPY tasks ./tasks
COPY model ./model
COPY storage ./storage
COPY moderation ./moderation
COPY deployments ./deployments
COPY examples ./examples
COPY scripts ./scripts
# [svd]: Stable Video Diffusion through diffusers, the backend `auto` picks on GPUs too small for
# the Wan2.2 preset. [voices]: the offline neural voices (Piper en, Kokoro ja).
RUN pip install -e ".[svd,voices]"

# The deployments' pull step changes into FACTORY_CODE_DIR (= this folder) before each run.
# --limit: flow runs at once on this host = GPUs in this container (one render per GPU).
CMD ["sh", "-c", "exec prefect worker start --pool gpu --type process --limit ${WORKER_LIMIT} --name gpu-$(hostname)"]
