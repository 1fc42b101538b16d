"""torch's module name (``torch.distributions.studentT``) for ``StudentT`` (defined in ``student_t``)."""
# ruff: noqa: N999 - torch's module name

from backprop.distributions.student_t import StudentT

__all__ = ["StudentT"]
