"""Inference Scaling Lab: watch a language model think harder."""

__version__ = "0.1.0"
