"""extsched: scheduled tasks for installed extensions."""

__version__ = "0.1.0"
