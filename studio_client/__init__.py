"""``studio``: the command-line client of the AutoML Studio. It talks to the REST API only."""
