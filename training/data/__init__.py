"""Data for training and evaluation: clean-photo corpus, real benchmark datasets, patch sampler."""
