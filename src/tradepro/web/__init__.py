"""The browser UI: static pages and ES modules served by the API (``serve.install_ui``)."""
