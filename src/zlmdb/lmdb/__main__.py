"""``python -m zlmdb.lmdb``: run the command-line tool (see :mod:`zlmdb.lmdb.tool`)."""

from .tool import main

if __name__ == "__main__":
    main()
