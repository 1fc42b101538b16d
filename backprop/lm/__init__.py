"""Feedforward neural language models: the model, training, checkpoints and the n-gram baseline."""

from backprop.lm.model import FeedForwardLM, LMConfig, evaluate_perplexity
from backprop.lm.ngram import KneserNey
from backprop.lm.train import TrainConfig, train

__all__ = ["FeedForwardLM", "KneserNey", "LMConfig", "TrainConfig", "evaluate_perplexity", "train"]
