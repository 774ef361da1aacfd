"""Real machines for the integration tests (sshd in private namespaces)."""
