"""Data: the label taxonomy, public sources, text normalisation and curated examples."""
