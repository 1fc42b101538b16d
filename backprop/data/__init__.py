"""Data: word-level text, the vocabulary, n-gram windows and the embedded default corpus."""

from backprop.data import corpus
from backprop.data.text import EOS, EOS_ID, UNK, UNK_ID, DataError, Vocab, read_lines, tokenize
from backprop.data.windows import Windows

__all__ = ["EOS", "EOS_ID", "UNK", "UNK_ID", "DataError", "Vocab", "Windows", "corpus", "read_lines", "tokenize"]
