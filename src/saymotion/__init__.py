"""saymotion: spoken instructions to 3D human motion."""

__version__ = "0.1.0"

__all__ = ["Motion", "MultiStepMotion", "Pipeline", "__version__"]


def __getattr__(name: str):
    # Lazy: `import saymotion` stays light for the CLI; torch loads only when the API is used.
    if name in ("Pipeline", "Motion", "MultiStepMotion"):
        from saymotion import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'saymotion' has no attribute {name!r}")
