"""The seams: `engine`, the one module that talks to Docker, and `git_state`, the one that reads git."""
