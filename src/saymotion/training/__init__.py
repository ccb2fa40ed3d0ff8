"""Training: data for each stage, the shared training loop (resume, logs, DDP), the stages."""
