# One image, three roles chosen by command (docker-compose.yml): `scriptorium web` (gunicorn, its one command line
# in scriptorium/web.py), `scriptorium worker`, `scriptorium ingest`, plus the one-shot `scriptorium db upgrade`.
FROM python:3.11-slim-bookworm AS app

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYANNOTE_METRICS_ENABLED=false \
    SCRIPTORIUM_MODELS_DIR=/opt/scriptorium/models

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY webapp ./webapp
COPY worker ./worker
COPY ingest ./ingest
COPY scriptorium ./scriptorium
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY wsgi.py ./
# resemblyzer without its deps: its metadata asks for the old webrtcvad (see the Makefile)
# Editable, so templates/, static/ and migrations/ stay beside the packages that find them by relative path.
RUN pip install -e . && pip install --no-deps resemblyzer==0.1.4 && scriptorium models install

RUN useradd --uid 1000 --create-home scriptorium \
 && mkdir -p /data /inbox && chown scriptorium:scriptorium /data /inbox /opt/scriptorium/models
USER scriptorium
EXPOSE 8000
CMD ["scriptorium", "web"]

# The GPU worker (docker-compose.yml's worker-gpu, `--target gpu`): the same packages (PyPI's torch and
# CTranslate2 are CUDA builds), pointed at the cuBLAS/cuDNN libraries those wheels carry, on the GPU in float16.
# WHISPER_MODEL=auto then takes large-v3-turbo once it is installed (README "Models").
FROM app AS gpu
ENV WHISPER_DEVICE=cuda WHISPER_COMPUTE_TYPE=float16 \
    LD_LIBRARY_PATH=/usr/local/lib/python3.11/site-packages/nvidia/cublas/lib:/usr/local/lib/python3.11/site-packages/nvidia/cudnn/lib

# The default target: the CPU image every other role uses.
FROM app
