"""Training: typed configs, the base model build, fine-tuning, baselines and evaluation."""
