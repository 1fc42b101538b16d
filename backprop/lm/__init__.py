"""Feedforward neural language models: the model, training, checkpoints and the n-gram baseline."""

from backprop.lm.config import TrainConfig
from backprop.lm.model import ACTIVATIONS, FeedForwardLM, LMConfig, evaluate_perplexity
from backprop.lm.ngram import KneserNey
from backprop.lm.train import train

__all__ = ["ACTIVATIONS", "FeedForwardLM", "KneserNey", "LMConfig", "TrainConfig", "evaluate_perplexity", "train"]
