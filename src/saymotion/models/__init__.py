"""Neural networks: the RVQ-VAE motion tokenizer, condition encoders, the masked and residual
transformers and the length predictor. `saymotion.checkpoint` builds them from a config."""
