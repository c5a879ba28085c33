"""chathub: one hub for chat rooms shared by terminals, browsers and scripts."""

__version__ = "0.1.0"
