"""The ``av-perception`` command line: one console script with subcommands."""
