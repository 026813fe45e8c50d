# The mlcloud serving container: Vertex AI's custom-container contract around mlcloud's model
# server. `mlcloud image --version vN` writes a build context with this file, a requirements.txt
# pinning the exact scikit-learn, numpy and joblib versions of the version's manifest, and the
# mlcloud.deploy package; it prints the build, push and deploy commands, e.g.
#   docker build --build-arg PYTHON_VERSION=3.11.9 -t REGION-docker.pkg.dev/PROJECT/mlcloud/NAME:v1 CONTEXT
# Vertex sets AIP_HTTP_PORT, AIP_HEALTH_ROUTE, AIP_PREDICT_ROUTE and AIP_STORAGE_URI; the server
# loads the model from AIP_STORAGE_URI (sha256 checked) and answers health 200 once it is loaded.
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app

WORKDIR /app
COPY requirements.txt /app/requirements.txt
RUN pip install --no-cache-dir -r /app/requirements.txt
COPY mlcloud /app/mlcloud
RUN python -c "import mlcloud.deploy.server.run, sklearn, pandas" \
    && useradd --system --uid 10001 --no-create-home mlcloud
USER mlcloud

EXPOSE 8080
ENTRYPOINT ["python", "-m", "mlcloud.deploy.server"]
