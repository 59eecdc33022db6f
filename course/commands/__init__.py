"""The commands of ``python -m course``: one module each, named after its command, with ``main(args) -> int``."""
