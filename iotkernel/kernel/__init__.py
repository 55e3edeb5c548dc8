"""The Jupyter kernel: cells on the board, magics, host Python. Never touches wire bytes."""
