"""``python -m tegur``: the same as the ``tegur`` command."""

from tegur.cli import main

main()
