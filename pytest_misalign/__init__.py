"""pytest-misalign: gate language-model releases on capability misalignment."""

__version__ = "0.1.0"
