"""Thin command-line entry points, one module per `saymotion` subcommand."""
