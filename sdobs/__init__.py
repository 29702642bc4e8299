"""sdobs: observability and capacity analysis for model services on Knative.

Importing the package is cheap on purpose: the GPU exporter image installs it without pandas,
so heavy modules are imported only by the subcommands and functions that need them.
"""

__version__ = "0.1.0"
