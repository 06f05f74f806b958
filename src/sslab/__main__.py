"""`python -m sslab` runs the command-line interface."""

from sslab.cli import main

if __name__ == "__main__":
    main()
