"""The spoken-instruction corpus: voices, synthesis, augmentation, manifest, frozen speech encoders
and their cached features (see docs/speech.md)."""
