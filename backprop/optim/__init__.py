"""Optimizers (torch.optim names and update formulas) and learning-rate schedules."""

from backprop.optim import lr_scheduler, swa_utils
from backprop.optim.adafactor import Adafactor
from backprop.optim.adam import Adam, AdamW
from backprop.optim.adaptive import Adadelta, Adamax, NAdam, RAdam
from backprop.optim.classic import ASGD, Rprop, SparseAdam
from backprop.optim.lbfgs import LBFGS
from backprop.optim.muon import Muon
from backprop.optim.optimizer import Optimizer
from backprop.optim.rmsprop import Adagrad, RMSprop
from backprop.optim.sgd import SGD

__all__ = [
    "ASGD",
    "LBFGS",
    "Muon",
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "Rprop",
    "SparseAdam",
    "lr_scheduler",
    "swa_utils",
]
