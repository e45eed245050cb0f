"""Repository-level pytest configuration: enable pytester for the plugin's own tests."""

pytest_plugins = ["pytester"]
