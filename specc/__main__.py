"""`python -m specc`: the same as the `specc` command."""

from specc.cli import main

if __name__ == "__main__":
    main()
