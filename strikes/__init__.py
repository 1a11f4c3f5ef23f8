"""Strikes: the enforcement engine fed by the classifier and by moderators."""
