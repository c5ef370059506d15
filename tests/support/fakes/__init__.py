"""Stand-ins for outside services that tests (and manual demos) run locally."""
