"""The stand-in's ``cupyx.scipy``."""
