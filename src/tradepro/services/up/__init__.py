"""``tradepro up``: the whole platform as child processes of one command (``main``: the
command; ``plan``: what runs; ``supervisor``: starting, restarting and stopping them)."""
