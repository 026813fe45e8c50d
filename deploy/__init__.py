"""The mlcloud library: bundles, manifests, settings, storage, registry, endpoints, serving."""
