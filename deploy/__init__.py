"""The mlcloud library: bundles, manifests, settings, storage, registry, endpoints, serving.

No command-line code lives here, and importing it is cheap: heavy libraries (aiplatform, sklearn,
pandas) are imported inside the functions that need them.
"""

__version__ = "0.1.0"
