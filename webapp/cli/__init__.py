"""The command line: flask agents, users and scheduler."""
