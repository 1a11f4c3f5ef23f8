"""Inference: the predictor that loads a trained artifact, and the HTTP API."""
