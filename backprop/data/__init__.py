"""Data: word-level text, the vocabulary, n-gram windows and the embedded default corpus."""

from backprop.data import corpus
from backprop.data.text import EOS, UNK, DataError, Vocab, read_lines, tokenize
from backprop.data.windows import Windows

__all__ = ["EOS", "UNK", "DataError", "Vocab", "Windows", "corpus", "read_lines", "tokenize"]
