"""The model server: one server for the Vertex emulator, ``mlcloud serve`` and a Vertex AI custom
container.

    python -m mlcloud.deploy.server [BUNDLE] [--port P] [--workers N]   (the container's entrypoint)

It follows Vertex's custom-container contract (``AIP_HTTP_PORT``, ``AIP_HEALTH_ROUTE``,
``AIP_PREDICT_ROUTE``, ``AIP_STORAGE_URI``; see ``config``), loads the bundle once with its
sha256 checked (``bundle``), answers Vertex's JSON with adaptive micro-batching (``batching``,
``jobs``) over predictor processes forked after the load (``workers``), and serves a web page
generated from the manifest's schema at ``/`` (``page``). Modules here import no heavy library at
import time.
"""

from mlcloud.deploy.server.config import ServerConfig

__all__ = ["ServerConfig", "serve"]


def serve(config: ServerConfig, **kwargs) -> int:
    from mlcloud.deploy.server.run import serve as _serve

    return _serve(config, **kwargs)
