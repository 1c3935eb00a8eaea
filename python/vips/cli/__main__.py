"""``python -m vips.cli``: the ``vips`` command without the console script."""

from vips.cli import main

if __name__ == "__main__":
    main()
