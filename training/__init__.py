"""Training, evaluation and data pipelines for VLU-Net (never imported by core/)."""
