"""Command-line interface: ``rigl-ref <subcommand>``."""
