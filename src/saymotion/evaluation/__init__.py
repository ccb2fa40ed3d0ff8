"""Evaluation of generated motion as the field does it (T2M / MoMask protocol)."""
