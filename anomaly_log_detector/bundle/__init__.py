"""The model bundle: one folder with every file a trained model needs, checksummed and written atomically."""

from anomaly_log_detector.bundle.manifest import (
    KNOWN_FILES, environment_versions, hash_file, input_fingerprint, input_fingerprints,
)
from anomaly_log_detector.bundle.store import Bundle, BundleWriter, open_bundle

__all__ = [
    "Bundle", "BundleWriter", "KNOWN_FILES", "environment_versions", "hash_file", "input_fingerprint",
    "input_fingerprints", "open_bundle",
]
