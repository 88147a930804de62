"""The ``deeprnn`` command line. Each sub-command lives in its own module with ``add_parser``."""
