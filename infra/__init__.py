"""Local emulators of Cloud Storage and Vertex AI, the local stack, infrastructure files."""
