"""`python -m chathub` is the same as the `chathub` command."""

from chathub.cli import main

if __name__ == "__main__":
    main()
