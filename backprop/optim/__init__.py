"""Optimizers (torch.optim names and update formulas) and learning-rate schedules."""

from backprop.optim import lr_scheduler
from backprop.optim.adam import Adam, AdamW
from backprop.optim.adaptive import Adadelta, Adamax, NAdam, RAdam
from backprop.optim.optimizer import Optimizer
from backprop.optim.rmsprop import Adagrad, RMSprop
from backprop.optim.sgd import SGD

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "lr_scheduler",
]
