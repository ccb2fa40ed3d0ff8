"""saymotion: spoken instructions to 3D human motion."""

__version__ = "0.1.0"
