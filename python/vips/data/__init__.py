"""Data generation for training the pose prior: motion sources (procedural creatures, ...)."""
