"""The task modules, one a group of tasks: each resolves, plans, and carries out or shows."""
